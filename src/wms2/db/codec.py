"""The JSON codec of the database's JSON/JSONB columns: orjson, because the lifecycle rewrites each DAG's
and block's completed set every cycle and stdlib ``json`` was a tenth of a 300-DAG cycle.

For what WMS2 stores the values are those of stdlib ``json``: non-string keys become strings, tuples
lists.  Two differences, both harmless here: NaN is stored as ``null`` (stdlib writes a ``NaN`` token
that is not JSON and that PostgreSQL's JSONB rejects), and a datetime becomes an ISO string (stdlib
raises).
"""

from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=_OPTIONS).decode()


def loads(text: str | bytes | int | float) -> Any:
    """SQLite gives a JSON column holding a bare number back as that number (the column's numeric
    affinity): it is the value already."""
    if isinstance(text, (int, float)):
        return text
    return orjson.loads(text)
