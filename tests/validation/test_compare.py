"""Acceptance on simulator outputs: identical, compatible, a shifted branch found and named, a missing
branch reported, dropped entries counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.validation.conftest import Sets
from wms2.config import ValidationSettings
from wms2.validation import ValidationError, ValidationResult, from_files
from wms2.validation.compare import compare


def _run(ref: list[Path], new: list[Path], cfg: ValidationSettings) -> ValidationResult:
    return compare(from_files([str(p) for p in ref]), from_files([str(p) for p in new]), cfg)


def _verdicts(result: ValidationResult) -> dict[str, str]:
    return {b.name: b.verdict for b in result.branches}


def test_same_seed_is_identical(sets: Sets, cfg: ValidationSettings) -> None:
    result = _run(sets.ref, sets.same, cfg)
    assert result.verdict == "identical"
    assert set(_verdicts(result).values()) == {"identical"}
    assert {"LeadJet_pt", "MET_pt", "nJet", "payload", "event"} <= set(_verdicts(result))
    assert result.trees[0].ref_entries == result.trees[0].new_entries == 40_000


def test_other_seed_is_compatible(sets: Sets, cfg: ValidationSettings) -> None:
    result = _run(sets.ref, sets.other_seed, cfg)
    assert result.verdict == "compatible", [b.problems for b in result.branches if b.problems]
    verdicts = _verdicts(result)
    # run/lumi/event numbers do not depend on the seed; every physics branch fluctuates
    assert verdicts["event"] == verdicts["run"] == "identical"
    assert all(verdicts[b] == "compatible" for b in ("LeadJet_pt", "MET_pt", "Dimuon_mass", "nJet", "payload"))
    assert all(b.ks_p is not None and b.ks_p > cfg.ks_p_min for b in result.branches if b.verdict == "compatible")


@pytest.mark.parametrize("variant", ["shifted", "shifted_other_seed"])
def test_two_percent_shift_is_found_and_named(sets: Sets, cfg: ValidationSettings, variant: str) -> None:
    result = _run(sets.ref, getattr(sets, variant), cfg)
    assert result.verdict == "different"
    different = [b.name for b in result.branches if b.verdict == "different"]
    assert different == ["LeadJet_pt"]
    assert result.branches[0].name == "LeadJet_pt"  # worst first
    assert result.branches[0].problems and result.branches[0].ref.mean < result.branches[0].new.mean


def test_missing_branch_is_reported(sets: Sets, cfg: ValidationSettings) -> None:
    result = _run(sets.ref, sets.removed, cfg)
    assert result.verdict == "different"
    met = [b for b in result.branches if b.name == "MET_pt"]
    assert len(met) == 1 and met[0].only_in == "ref" and met[0].verdict == "different" and met[0].ks_p is None
    assert [b.name for b in result.branches if b.verdict == "different"] == ["MET_pt"]
    reverse = _run(sets.removed, sets.ref, cfg)
    assert [(b.name, b.only_in) for b in reverse.branches if b.verdict == "different"] == [("MET_pt", "new")]


def test_dropped_entries_are_counted(sets: Sets, cfg: ValidationSettings) -> None:
    result = _run(sets.ref, sets.dropped, cfg)
    weight = next(b for b in result.branches if b.name == "genWeight")
    assert weight.verdict == "different"
    assert weight.ref.nan == 0 and 250 < weight.new.nan < 550  # 1 % of 40,000
    assert weight.new.values + weight.new.nan == weight.ref.values
    assert any("NaN/inf" in p for p in weight.problems)


def test_two_workers_give_the_same_summaries(sets: Sets, cfg: ValidationSettings) -> None:
    """The process pool changes nothing but the wall time (same entry ranges: bit-identical summaries);
    other entry ranges move the sample-placed bin range a little, never a verdict."""
    split = cfg.model_copy(update={"task_mb": 1.0})
    serial = _run(sets.ref, sets.other_seed, split)
    pooled = _run(sets.ref, sets.other_seed, split.model_copy(update={"workers": 2}))
    whole = _run(sets.ref, sets.other_seed, cfg)
    assert pooled.resources is not None and pooled.resources.workers == 2
    assert pooled.resources.worker_peak_rss_mb > 0
    by_name = {b.name: b for b in serial.branches}
    assert pooled.branches == serial.branches
    assert {b.name: b.verdict for b in whole.branches} == {n: b.verdict for n, b in by_name.items()}


def test_bad_inputs_name_the_file(tmp_path: Path, cfg: ValidationSettings, sets: Sets) -> None:
    with pytest.raises(ValidationError, match="no such file"):
        from_files([str(tmp_path / "nothing.root")])
    junk = tmp_path / "junk.root"
    junk.write_bytes(b"not a ROOT file")
    with pytest.raises(ValidationError, match=r"junk\.root"):
        _run([junk], sets.ref, cfg)


def test_progress_reports_both_passes(sets: Sets, cfg: ValidationSettings) -> None:
    seen: list[tuple[str, int, int]] = []
    compare(from_files([str(p) for p in sets.ref]), from_files([str(p) for p in sets.other_seed]), cfg,
            progress=lambda stage, done, total: seen.append((stage, done, total)))
    headers = [s for s in seen if s[0] == "headers"]
    scan = [s for s in seen if s[0] == "scan"]
    assert headers == [("headers", i, 4) for i in range(5)]  # 2 files a side, read once each
    assert seen.index(headers[-1]) < seen.index(scan[0])  # the header pass first
    total = scan[0][2]
    assert total >= 4 and scan == [("scan", i, total) for i in range(total + 1)]
