"""The JSON columns' codec round-trips what WMS2 stores, on both databases."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from wms2.db import codec
from wms2.db.session import Database
from wms2.db.tables import RequestRow
from wms2.domain.enums import RequestStatus

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**62), 2**62) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)


@given(json_values)
def test_same_values_as_stdlib_json(value: object) -> None:
    assert codec.loads(codec.dumps(value)) == json.loads(json.dumps(value))


def test_non_string_keys_and_tuples_as_stdlib_json() -> None:
    value = {1: (1, 2), "a": {2: [3]}}
    assert codec.loads(codec.dumps(value)) == json.loads(json.dumps(value)) == {"1": [1, 2], "a": {"2": [3]}}


def test_nan_is_stored_as_null() -> None:
    assert codec.loads(codec.dumps({"x": math.nan})) == {"x": None}


def test_json_columns_round_trip_through_the_database(db: Database) -> None:
    document = {"RequestName": "r", "LumiList": {"1": [[1, 10]]}, "Memory": 2000.5, "Nested": [{"a": None}]}
    with db.session() as s:
        s.add(RequestRow(name="r", requestor="t", request_type="StepChain", document=document, spec={},
                         priority=1, status=RequestStatus.new, output_datasets=["/A/B-C/D"]))
    with db.session() as s:
        row = s.query(RequestRow).one()
        assert row.document == document and row.output_datasets == ["/A/B-C/D"]


def test_a_json_column_holding_a_bare_number(db: Database) -> None:
    """SQLite hands a JSON scalar number back as a number: it must load as that number, not fail."""
    for value in (5, 2.5, "text", None, [1], {"a": 1}):
        with db.session() as s:
            s.query(RequestRow).delete()
            s.add(RequestRow(name="r", requestor="t", request_type="StepChain", document={}, spec=value,
                             priority=1, status=RequestStatus.new, output_datasets=[]))
        with db.session() as s:
            assert s.query(RequestRow).one().spec == value
