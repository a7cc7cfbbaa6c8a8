"""The CRIC table parser: flattened and unflattened shapes agree; bad documents give errors naming the
source, row and column."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wms2.services.cric_model import (
    CricError,
    NameRow,
    StorageKind,
    build_topology,
    decode_json,
    parse_data_processing,
    parse_site_names,
    storage_kind,
)
from wms2.services.sites import SiteCatalogError

from .conftest import DATA_PROCESSING, SITE_NAMES, flattened, unflattened

SRC = "CRIC test.json"
MAX = 10_000

# CMS names: tier, two-letter country, one or more _segments (as CRIC and the Rucio CMS schema have them).
segment = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
cms_names = st.builds(lambda t, c, segs: f"T{t}_{c}_" + "_".join(segs),
                      st.integers(0, 3), st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2),
                      st.lists(segment, min_size=1, max_size=3))
facilities = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF).filter(str.isprintable),
                     max_size=30)
# What could break out of a ClassAd string or a path if it reached a submit file.
HOSTILE = ['"', "'", "\n", "\r", " ", "/", "../", "\\", "|", "&&", "(", ")", "=", "$(", "\x00", "#", "."]


@st.composite
def site_tables(draw: st.DrawFn) -> tuple[list[list[str]], list[list[str]]]:
    psns = draw(st.lists(cms_names, unique=True, max_size=12))
    pnns = draw(st.lists(cms_names, unique=True, max_size=12))
    names = [["psn", draw(facilities), n] for n in psns] + [["phedex", draw(facilities), n] for n in pnns]
    names += [["lcg", "X", "Not-A-CMS-Name"], ["cms", "Y", "T9 whatever"]]  # ignored types are not checked
    names = draw(st.permutations(names))
    links = draw(st.lists(st.tuples(st.sampled_from(pnns), st.sampled_from(psns)), unique=True, max_size=30)) \
        if psns and pnns else []
    return names, [list(link) for link in links]


def _reorder(columns: list[str], rows: list[list[Any]], order: list[int], extra: bool) -> dict[str, Any]:
    """The same table with its columns permuted (and an extra column CRIC may add)."""
    cols = [columns[i] for i in order] + (["state"] if extra else [])
    return flattened(cols, [[r[i] for i in order] + (["ACTIVE"] if extra else []) for r in rows])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables=site_tables(), order=st.permutations([0, 1, 2]), extra=st.booleans())
def test_shapes_agree(tables: tuple[list[list[str]], list[list[str]]], order: list[int], extra: bool) -> None:
    names, links = tables
    cols, lcols = ["type", "site_name", "alias"], ["phedex_name", "psn_name"]
    flat = parse_site_names(_reorder(cols, names, order, extra), SRC, MAX)
    assert flat == parse_site_names(unflattened(cols, names), SRC, MAX)
    assert flat == parse_site_names({"site-names": unflattened(cols, names)}, SRC, MAX)  # WMCore mock layout
    assert flat == [NameRow(t, f or None, n) for t, f, n in names if t in ("psn", "phedex")]
    dp = parse_data_processing(flattened(lcols, links), SRC, MAX)
    assert dp == parse_data_processing(unflattened(lcols, links), SRC, MAX) == [tuple(x) for x in links]
    topo = build_topology(flat, dp, SRC)
    assert set(topo.sites) == {n for t, _, n in names if t == "psn"}
    for pnn, psn in dp:
        assert psn in topo.psns_reading(pnn) and pnn in topo.sites[psn].storage
    assert sum(len(s.storage) for s in topo.sites.values()) == len(dp)
    for psn, rse in topo.output_rses().items():
        assert rse in topo.sites[psn].storage and topo.kind(rse) is StorageKind.disk


@settings(max_examples=80, deadline=None)
@given(name=cms_names, bad=st.sampled_from(HOSTILE), at=st.integers(0, 40), column=st.sampled_from(["psn", "phedex"]))
def test_hostile_names_refused(name: str, bad: str, at: int, column: str) -> None:
    at = min(at, len(name))
    hostile = name[:at] + bad + name[at:]
    rows = [["psn", "CERN-PROD", "T2_CH_CERN"], [column, "CERN-PROD", hostile]]
    with pytest.raises(CricError, match=r"CRIC test\.json: row 1 column 'alias': .* is not a CMS site or storage"):
        parse_site_names(flattened(["type", "site_name", "alias"], rows), SRC, MAX)
    for col in (0, 1):
        link = ["T2_CH_CERN", "T2_CH_CERN"]
        link[col] = hostile
        which = ("phedex_name", "psn_name")[col]
        with pytest.raises(CricError, match=rf"row 0 column '{which}'"):
            parse_data_processing(unflattened(["phedex_name", "psn_name"], [link]), SRC, MAX)


def test_trailing_newline_refused() -> None:
    """``re.match`` with ``$`` accepts 'T2_CH_CERN\\n'; the parser uses fullmatch."""
    with pytest.raises(CricError, match="row 0 column 'alias'"):
        parse_site_names([{"type": "psn", "site_name": "x", "alias": "T2_CH_CERN\n"}], SRC, MAX)


def test_long_and_control_facility_refused() -> None:
    with pytest.raises(CricError, match="row 0 column 'site_name'"):
        parse_site_names([{"type": "psn", "site_name": "a\nb", "alias": "T2_CH_CERN"}], SRC, MAX)
    with pytest.raises(CricError, match="row 0 column 'site_name'"):
        parse_site_names([{"type": "psn", "site_name": "x" * 201, "alias": "T2_CH_CERN"}], SRC, MAX)
    with pytest.raises(CricError, match="row 0 column 'site_name'"):
        parse_site_names([{"type": "psn", "site_name": "a\x85b", "alias": "T2_CH_CERN"}], SRC, MAX)


@pytest.mark.parametrize(("doc", "message"), [
    ({"desc": {"columns": ["type", "alias"]}, "result": []}, r"desc\.columns lacks column\(s\) \['site_name'\]"),
    ({"result": []}, r"desc\.columns is missing"),
    ({"desc": {"columns": ["type", "site_name", "alias", "alias"]}, "result": []}, "names a column twice"),
    ({"desc": {"columns": ["type", "site_name", "alias"]}}, "result is missing"),
    ({"desc": {"columns": ["type", "site_name", "alias"]}, "result": [["psn", "x"]]},
     r"result\[0\] is not a list of the 3 columns"),
    ({"desc": {"columns": ["type", "site_name", "alias"]}, "result": [["psn", "x", 7]]},
     r"row 0 column 'alias': expected a string, got int 7"),
    ([{"type": "psn", "site_name": None, "alias": "T2_CH_CERN"}], r"row 0 column 'site_name': expected a string"),
    ([{"type": "psn", "alias": "T2_CH_CERN"}], r"row 0 has no column 'site_name'"),
    ([["psn", "x", "T2_CH_CERN"]], r"row 0 is a list, not an object"),
    ("T2_CH_CERN", r"expected a CRIC table .* got str"),
    ([{"type": "psn", "site_name": "a", "alias": "T2_CH_CERN"},
      {"type": "phedex", "site_name": "a", "alias": "T2_CH_CERN"},
      {"type": "psn", "site_name": "b", "alias": "T2_CH_CERN"}],
     r"row 2 lists psn T2_CH_CERN again \(first at row 0\)"),
])
def test_bad_site_names(doc: Any, message: str) -> None:
    with pytest.raises(CricError, match=message) as info:
        parse_site_names(doc, SRC, MAX)
    assert str(info.value).startswith(SRC)
    assert isinstance(info.value, SiteCatalogError), "callers of the SiteCatalog protocol catch it"


def test_bad_data_processing() -> None:
    with pytest.raises(CricError, match=r"row 1 repeats the link T2_CH_CERN -> T2_CH_CERN \(first at row 0\)"):
        parse_data_processing(flattened(["phedex_name", "psn_name"], [["T2_CH_CERN", "T2_CH_CERN"]] * 2), SRC, MAX)
    with pytest.raises(CricError, match=r"lacks column\(s\) \['psn_name'\]"):
        parse_data_processing(flattened(["phedex_name"], []), SRC, MAX)
    with pytest.raises(CricError, match=r"row 0 column 'psn_name': expected a string, got list"):
        parse_data_processing([{"phedex_name": "T2_CH_CERN", "psn_name": ["T2_CH_CERN"]}], SRC, MAX)


def test_limits() -> None:
    raw = json.dumps(SITE_NAMES).encode()
    assert decode_json(raw, SRC, len(raw)) == SITE_NAMES
    with pytest.raises(CricError, match=rf"{len(raw)} bytes, more than the {len(raw) - 1} accepted"):
        decode_json(raw, SRC, len(raw) - 1)
    with pytest.raises(CricError, match="19 rows, more than the 18 accepted"):
        parse_site_names(SITE_NAMES, SRC, 18)
    with pytest.raises(CricError, match=r"not JSON: .* at line 1 column"):
        decode_json(b'{"desc": ', SRC, 100)
    with pytest.raises(CricError, match="not UTF-8"):
        decode_json(b"\xff\xfe\x00", SRC, 100)


def test_sample_topology() -> None:
    topo = build_topology(parse_site_names(SITE_NAMES, SRC, MAX), parse_data_processing(DATA_PROCESSING, SRC, MAX), SRC)
    assert list(topo.sites) == ["T1_US_FNAL", "T1_XX_SiteB", "T2_CH_CERN", "T2_DE_DESY", "T2_XX_SiteA", "T2_XX_SiteC",
                                "T3_US_FNALLPC"]
    assert topo.sites["T1_US_FNAL"].storage == ("T1_US_FNAL_Disk", "T3_US_FNALLPC")
    assert topo.sites["T1_US_FNAL"].facility == "USCMS-FNAL-WC1" and topo.sites["T1_US_FNAL"].tier == 1
    assert topo.psns_reading("T1_US_FNAL_Disk") == ("T1_US_FNAL", "T3_US_FNALLPC")
    assert topo.output_rses() == {"T1_US_FNAL": "T1_US_FNAL_Disk", "T1_XX_SiteB": "T1_XX_SiteB_Disk",
                                  "T2_CH_CERN": "T2_CH_CERN", "T2_DE_DESY": "T2_DE_DESY",
                                  "T2_XX_SiteA": "T2_XX_SiteA", "T2_XX_SiteC": "T2_XX_SiteC_Store",
                                  "T3_US_FNALLPC": "T3_US_FNALLPC"}
    kinds = {n: topo.kind(n) for n in ("T1_US_FNAL_MSS", "T1_US_FNAL_Buffer", "T1_XX_SiteB_Tape", "T2_CH_CERN")}
    assert kinds == {"T1_US_FNAL_MSS": StorageKind.tape, "T1_US_FNAL_Buffer": StorageKind.buffer,
                     "T1_XX_SiteB_Tape": StorageKind.tape, "T2_CH_CERN": StorageKind.disk}


@pytest.mark.parametrize(("storage", "expected"), [
    (["T2_XX_Foo_Disk", "T2_XX_Foo"], "T2_XX_Foo_Disk"),  # <site>_Disk first
    (["T2_XX_Foo", "T2_XX_Bar"], "T2_XX_Foo"),  # named like the site
    (["T2_XX_Bar", "T2_XX_Foo_Tape"], "T2_XX_Bar"),  # the only disk node
    (["T2_XX_Bar", "T2_XX_Baz"], None),  # ambiguous: the CMS convention or [catalog] site_rses decides
    (["T2_XX_Foo_Tape", "T2_XX_Foo_Buffer", "T2_XX_Foo_Temp"], None),  # no disk
    ([], None),
])
def test_output_rse(storage: list[str], expected: str | None) -> None:
    names = [NameRow("psn", None, "T2_XX_Foo")]
    topo = build_topology(names, [(p, "T2_XX_Foo") for p in storage], SRC)
    assert topo.output_rse("T2_XX_Foo") == expected
    assert topo.output_rse("T2_XX_Unknown") is None


def test_storage_kind() -> None:
    assert [storage_kind(n) for n in ("T1_A_B_Tape", "T1_A_B_MSS", "T1_A_B_Export", "T2_A_B_Test", "T2_A_B")] == [
        StorageKind.tape, StorageKind.tape, StorageKind.buffer, StorageKind.test, StorageKind.disk]
