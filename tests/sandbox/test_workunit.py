"""One work unit driven by hand through its scripts (CONTRACTS.md): land -> proc x3 -> merge -> cleanup."""

from __future__ import annotations

from pathlib import Path

import pytest

from wms2.sandbox.manifest import FaultSpec, PostSpec
from wms2.sandbox.report import JobReport
from wms2.sandbox.results import MergeOutput, PostResult, WorkUnitMetrics
from wms2.sandbox.stageout import adler32_of

from .wu import SITE, WorkUnit, make_manifest


def _post(wu: WorkUnit, node: str) -> PostResult:
    return PostResult.model_validate_json((wu.dir / f"{node}.post.json").read_text())


def _unmerged(storage: Path) -> list[Path]:
    return [p for p in (storage / "store" / "unmerged").rglob("*") if p.is_file()] if storage.exists() else []


@pytest.mark.slow
def test_work_unit_end_to_end(tmp_path: Path) -> None:
    import uproot

    storage = tmp_path / "storage"
    wu = WorkUnit(tmp_path, make_manifest(storage, jobs=3, events=20))
    runs = wu.run_all()
    assert {n: r.post_exits for n, r in runs.items()} == {
        "landing": [0],
        "proc_000000": [0],
        "proc_000001": [0],
        "proc_000002": [0],
        "merge": [0],
        "cleanup": [0],
    }
    assert (wu.dir / "elected_site").read_text().strip() == SITE
    override = (wu.dir / "proc_000001.override.sub").read_text()
    assert f'+DESIRED_Sites = "{SITE}"' in override
    assert f'requirements = ((TARGET.Arch == "X86_64")) && (GLIDEIN_CMSSite =?= "{SITE}")' in override
    assert runs["proc_000001"].job_ads[0]["DESIRED_Sites"] == f'"{SITE}"'

    out = MergeOutput.model_validate_json((wu.dir / "merge_output.json").read_text())
    assert len(out.files) == 1 and out.site == SITE
    merged = out.files[0]
    assert merged.events == 60 and merged.merged and merged.lumis == {"1": [1, 2, 3]}
    assert merged.event_ranges == [(1, 20), (21, 40), (41, 60)]
    assert merged.adler32 == adler32_of(merged.pfn) and merged.size == Path(merged.pfn).stat().st_size
    tree = uproot.open(merged.pfn)["Events"]
    assert tree.num_entries == 60
    assert sorted(tree["event"].array(library="np").tolist()) == list(range(1, 61))
    assert merged.lfn.startswith("/store/mc/Era/Prim/GEN-SIM/Proc-v1/")

    metrics = WorkUnitMetrics.model_validate_json((wu.dir / "work_unit_metrics.json").read_text())
    assert metrics.jobs_sampled == 3 and metrics.steps[0].step == "GEN-SIM"
    m = metrics.steps[0].metrics
    assert m["events_written"].median == 20 and m["peak_rss_mb"].max > 100
    assert 0 < m["cpu_efficiency"].median <= 1.05 and m["bytes_per_event_GEN-SIM"].median > 4000
    assert m["wall_s"].min <= m["wall_s"].median <= m["wall_s"].max

    assert _unmerged(storage) == []
    assert not list(wu.dir.glob("*.work"))
    assert _post(wu, "proc_000000").final and _post(wu, "proc_000000").classification.category == "success"

    # merge retry is idempotent: the existing output is kept as it is
    mtime = Path(merged.pfn).stat().st_mtime_ns
    assert wu.merge().post_exits == [0]
    assert Path(merged.pfn).stat().st_mtime_ns == mtime
    assert MergeOutput.model_validate_json((wu.dir / "merge_output.json").read_text()) == out


@pytest.mark.slow
def test_memory_failure_bumps_request_memory(tmp_path: Path) -> None:
    faults = [FaultSpec(nodes=["proc_000000"], memory_blowup_mb=300)]
    wu = WorkUnit(tmp_path, make_manifest(tmp_path / "storage", jobs=1, events=10, faults=faults))
    wu.land()
    run = wu.proc("proc_000000")
    assert run.post_exits == [1, 0]
    assert [ad["RequestMemory"] for ad in run.job_ads] == ["400", "600"]
    assert "request_memory = 600" in (wu.dir / "proc_000000.override.sub").read_text()
    first = JobReport.model_validate_json((wu.dir / "proc_000000.report.0.json").read_text())
    assert first.exit_code == 8031


@pytest.mark.slow
def test_memory_failure_at_the_ceiling_is_permanent(tmp_path: Path) -> None:
    faults = [FaultSpec(nodes=["proc_000000"], memory_blowup_mb=300)]
    post = PostSpec(cooloff_base_s=0, cooloff_max_s=0, max_memory_per_core_mb=400)
    wu = WorkUnit(tmp_path, make_manifest(tmp_path / "storage", jobs=2, events=10, faults=faults, post=post))
    wu.land()
    run = wu.proc("proc_000000")
    assert run.post_exits == [42]
    result = _post(wu, "proc_000000")
    assert result.final and result.exit_code == 8031 and result.classification.category == "memory"
    assert result.classification.memory_bumped_to is None and "ceiling" in result.classification.action
    assert not (wu.dir / "proc_000000.overrides.json").exists()


@pytest.mark.slow
def test_data_failure_is_permanent_with_bad_files(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path / "storage", jobs=3, events=10, inputs=True)
    bad = manifest.jobs[1].input_files[0].lfn
    manifest.faults = [FaultSpec(bad_input_lfn=bad)]
    wu = WorkUnit(tmp_path, manifest)
    wu.land()
    run = wu.proc("proc_000001")
    assert run.post_exits == [42] and run.attempts == 1
    result = _post(wu, "proc_000001")
    assert result.classification.category == "data" and result.final and not result.classification.retryable
    assert result.classification.bad_input_files == [bad]
    assert result.exit_code == 8021 and result.job.site == SITE
    assert wu.proc("proc_000000").post_exits == [0]


@pytest.mark.slow
def test_catastrophic_pattern_aborts_the_work_unit(tmp_path: Path) -> None:
    faults = [FaultSpec(exit_code=8001)]
    wu = WorkUnit(tmp_path, make_manifest(tmp_path / "storage", jobs=3, events=5, faults=faults))
    runs = wu.run_all()
    assert [runs[f"proc_{i:06d}"].post_exits for i in range(3)] == [[42], [42], [43]]
    last = _post(wu, "proc_000002")
    assert last.classification.category == "catastrophic" and last.post_exit == 43
    assert "merge" not in runs


@pytest.mark.slow
def test_transient_signal_then_success_and_site_only_fault(tmp_path: Path) -> None:
    faults = [
        FaultSpec(nodes=["proc_000000"], signal=9, fail_attempts=1),
        FaultSpec(nodes=["proc_000001"], exit_code=8001, only_at_site="T2_YY_Elsewhere"),
        FaultSpec(nodes=["proc_000001"], no_output=True, fail_attempts=1),
    ]
    wu = WorkUnit(tmp_path, make_manifest(tmp_path / "storage", jobs=2, events=5, faults=faults))
    wu.land()
    first = wu.proc("proc_000000")
    assert first.post_exits == [1, 0]
    killed = JobReport.model_validate_json((wu.dir / "proc_000000.report.0.json").read_text())
    assert killed.exit_code == 137
    assert [ad["WMS2_Attempt"] for ad in first.job_ads] == ["0", "1"]
    second = wu.proc("proc_000001")
    assert second.post_exits == [1, 0]
    no_output = JobReport.model_validate_json((wu.dir / "proc_000001.report.0.json").read_text())
    assert no_output.exit_code == 60450


@pytest.mark.slow
def test_landing_without_site_is_retried(tmp_path: Path) -> None:
    wu = WorkUnit(tmp_path, make_manifest(tmp_path / "storage", jobs=1))
    wu.set_site(None)
    run = wu.land()
    assert run.post_exits == [1, 1, 1, 1]
    result = _post(wu, "landing")
    assert result.final and result.classification.category == "infrastructure" and result.exit_code == 10043
    assert not (wu.dir / "elected_site").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("max_size", "expected_files", "merged"), [(200_000, 2, True), (100_000, 3, False)])
def test_merge_batches_and_oversized(tmp_path: Path, max_size: int, expected_files: int, merged: bool) -> None:
    import uproot

    wu = WorkUnit(tmp_path, make_manifest(tmp_path / "storage", jobs=3, events=20, max_merge_size=max_size))
    runs = wu.run_all()
    assert runs["cleanup"].post_exits == [0]
    out = MergeOutput.model_validate_json((wu.dir / "merge_output.json").read_text())
    assert len(out.files) == expected_files and {f.merged for f in out.files} == {merged}
    assert sum(uproot.open(f.pfn)["Events"].num_entries for f in out.files) == 60
    assert sum(f.events for f in out.files) == 60
    assert all(f.adler32 == adler32_of(f.pfn) for f in out.files)
    assert len({f.lfn for f in out.files}) == expected_files


@pytest.mark.slow
def test_two_step_chain_keeps_only_kept_outputs(tmp_path: Path) -> None:
    import uproot

    from wms2.sandbox.manifest import OutputModule, SimulatorConfig, StepSpec

    manifest = make_manifest(tmp_path / "storage", jobs=1, events=12)
    first = manifest.steps[0]
    first.outputs[0].dataset = None  # transient intermediate output
    manifest.steps.append(
        StepSpec(
            name="DIGI",
            index=1,
            kind="simulator",
            threads=2,
            input_step="GEN-SIM",
            input_module="RAWSIMoutput",
            outputs=[
                OutputModule(
                    module="PREMIXRAWoutput",
                    tier="GEN-SIM-RAW",
                    dataset="/Prim/Era-Proc-v1/GEN-SIM-RAW",
                    unmerged_lfn_base="/store/unmerged/Era/Prim/GEN-SIM-RAW/Proc-v1",
                )
            ],
            simulator=SimulatorConfig(
                cpu_seconds_per_event=0.001,
                memory_mb=0,
                size_per_event_kb={"GEN-SIM-RAW": 1.0},
                filter_efficiency=0.5,
                seed=11,
            ),
        )
    )
    wu = WorkUnit(tmp_path, manifest)
    wu.land()
    assert wu.proc("proc_000000").post_exits == [0]
    report = JobReport.model_validate_json((wu.dir / "proc_000000.report.json").read_text())
    assert [s.name for s in report.steps] == ["GEN-SIM", "DIGI"]
    assert report.steps[1].metrics.events_read == 12 and report.steps[1].metrics.threads == 2
    assert [o.tier for o in report.outputs] == ["GEN-SIM-RAW"]
    kept = report.outputs[0]
    assert 0 < kept.events < 12 and uproot.open(kept.pfn)["Events"].num_entries == kept.events
    assert (wu.dir / "proc_000000.DIGI.fjr.xml").exists()
    assert wu.merge().post_exits == [0]
    out = MergeOutput.model_validate_json((wu.dir / "merge_output.json").read_text())
    assert [f.tier for f in out.files] == ["GEN-SIM-RAW"] and out.files[0].events == kept.events
