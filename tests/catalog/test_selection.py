"""Run lists and lumi masks keep exactly the selected lumis, and their events (property test)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wms2.services.catalog import CatalogFile, FileSelection, LumiSection, apply_selection, lumi_events

RUNS = [1, 2, 3]


@st.composite
def files(draw: st.DrawFn) -> list[CatalogFile]:
    out = []
    for i in range(draw(st.integers(0, 12))):
        pairs = draw(st.lists(st.tuples(st.sampled_from(RUNS), st.integers(1, 30)), max_size=8, unique=True))
        known = draw(st.booleans())
        lumis = tuple(LumiSection(r, lu, draw(st.integers(0, 50)) if known else None) for r, lu in sorted(pairs))
        events = sum(ls.events or 0 for ls in lumis) if known else draw(st.integers(0, 300))
        out.append(CatalogFile(f"/store/f{i:03d}.root", 1, events, None, "/A/B-v1/RAW#1", lumis))
    return out


masks = st.dictionaries(st.sampled_from(RUNS), st.lists(
    st.tuples(st.integers(1, 30), st.integers(0, 10)).map(lambda t: (t[0], t[0] + t[1])), min_size=1, max_size=3))


@settings(derandomize=True, max_examples=60, deadline=None)
@given(fs=files(), white=st.frozensets(st.sampled_from(RUNS)), black=st.frozensets(st.sampled_from(RUNS)),
       mask=masks)
def test_selection_is_exact(fs: list[CatalogFile], white: frozenset[int], black: frozenset[int],
                            mask: dict[int, list[tuple[int, int]]]) -> None:
    sel = FileSelection(run_whitelist=white, run_blacklist=black, lumi_mask=mask)
    kept = {f.lfn: f for f in apply_selection(fs, sel)}
    if not sel.filters_lumis:
        assert list(kept.values()) == fs, "no run list and no mask: every file, whole"
        return
    for f in fs:
        per_lumi = dict(zip([(ls.run, ls.lumi) for ls in f.lumis], lumi_events(f), strict=True))
        wanted = [p for p in per_lumi if sel.keeps_lumi(*p)]
        if not wanted:
            assert f.lfn not in kept
            continue
        k = kept[f.lfn]
        assert sorted((ls.run, ls.lumi) for ls in k.lumis) == sorted(wanted)
        assert k.events == sum(per_lumi[p] for p in wanted)
