"""PRE / POST / landing scripts called as functions on hand-made work-unit directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from wms2.sandbox.landing import site_from_output
from wms2.sandbox.manifest import PostSpec
from wms2.sandbox.post import PostScript, run_post
from wms2.sandbox.pre import run_pre
from wms2.sandbox.report import JobReport
from wms2.sandbox.results import PostResult

from .wu import make_manifest


@pytest.fixture
def wudir(tmp_path: Path) -> Path:
    d = tmp_path / "mg_000000"
    d.mkdir()
    make_manifest(tmp_path / "storage", jobs=3).dump(d / "manifest.json")
    (d / "proc.sub").write_text("request_cpus = 2\nrequest_memory = 1000\ninclude : $(node).override.sub\nqueue\n")
    return d


def _post(d: Path, node: str) -> PostResult:
    return PostResult.model_validate_json((d / f"{node}.post.json").read_text())


def test_pre_without_site_and_with_bad_site(wudir: Path) -> None:
    assert run_pre("proc_000000", wudir) == 0
    assert (wudir / "proc_000000.override.sub").read_text() == "+WMS2_Attempt = 0\n"
    assert run_pre("proc_000000", wudir) == 0
    assert "+WMS2_Attempt = 1" in (wudir / "proc_000000.override.sub").read_text()
    (wudir / "elected_site").write_text('T2_XX_X"\nqueue 100\n')
    assert run_pre("proc_000000", wudir) == 1
    (wudir / "elected_site").write_text("T1_US_FNAL\n")
    assert run_pre("proc_000000", wudir) == 0
    text = (wudir / "proc_000000.override.sub").read_text()
    assert 'requirements = (GLIDEIN_CMSSite =?= "T1_US_FNAL")' in text  # proc.sub has no requirements


def test_landing_output_parsing(tmp_path: Path) -> None:
    out = tmp_path / "landing.out"
    out.write_text("hello\nGLIDEIN_CMSSite=T2_CH_CERN\n")
    assert site_from_output(out) == "T2_CH_CERN"
    out.write_text("GLIDEIN_CMSSite=not a site; rm -rf\n")
    assert site_from_output(out) is None


def test_signal_is_transient_with_cooloff(wudir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("wms2.sandbox.post.time.sleep", slept.append)
    manifest_path = wudir / "manifest.json"
    m = make_manifest(wudir.parent / "storage", jobs=3, post=PostSpec(cooloff_base_s=60, cooloff_max_s=600))
    m.dump(manifest_path)
    assert run_post("proc_000000", "-9", "2", "3", wudir) == 1
    r = _post(wudir, "proc_000000")
    assert (r.exit_code, r.job.signal, r.classification.category, r.final) == (137, 9, "transient", False)
    assert slept == [240]
    assert run_post("proc_000000", "-9", "3", "3", wudir) == 1
    assert _post(wudir, "proc_000000").final and slept == [240]  # no cool-off when no retry is left


def test_memory_bump_bounded_by_cores(wudir: Path) -> None:
    JobReport(node="proc_000001", work_unit="mg_000000", exit_code=50660).write(wudir)
    assert run_post("proc_000001", str(50660 % 256), "0", "3", wudir) == 1
    assert _post(wudir, "proc_000001").classification.memory_bumped_to == 1500
    # the retired report is not read again by the next attempt
    assert not (wudir / "proc_000001.report.json").exists()
    JobReport(node="proc_000001", work_unit="mg_000000", exit_code=50660).write(wudir)
    assert run_post("proc_000001", "1", "1", "3", wudir) == 1
    assert _post(wudir, "proc_000001").classification.memory_bumped_to == 2250
    JobReport(node="proc_000001", work_unit="mg_000000", exit_code=50660).write(wudir)
    assert run_post("proc_000001", "1", "2", "3", wudir) == 1
    # ceiling = 3000 MB/core (PostSpec default) x 2 cores
    assert _post(wudir, "proc_000001").classification.memory_bumped_to == 3375
    JobReport(node="proc_000001", work_unit="mg_000000", exit_code=8031).write(wudir)
    assert run_post("proc_000001", "1", "3", "5", wudir) == 1
    assert _post(wudir, "proc_000001").classification.memory_bumped_to == 5063


def test_removed_job_and_missing_report(wudir: Path) -> None:
    assert run_post("proc_000002", "-1002", "0", "3", wudir) == 1
    assert _post(wudir, "proc_000002").exit_code == 99303
    assert run_post("proc_000002", "0", "1", "3", wudir) == 1  # exit 0 but no report: no FJR
    assert _post(wudir, "proc_000002").exit_code == 195


def test_catastrophic_needs_same_code_and_final(wudir: Path) -> None:
    for node in ("proc_000000", "proc_000001"):
        JobReport(node=node, work_unit="mg_000000", exit_code=8001).write(wudir)
        assert run_post(node, "65", "0", "3", wudir) == 42
    JobReport(node="proc_000002", work_unit="mg_000000", exit_code=8006).write(wudir)
    assert run_post("proc_000002", "1", "0", "3", wudir) == 42  # different code: no abort
    JobReport(node="proc_000002", work_unit="mg_000000", exit_code=8001).write(wudir)
    assert run_post("proc_000002", "65", "0", "3", wudir) == 43
    assert PostScript("merge", 0, 0, 2, wudir).role == "merge"


NODES_LOG = """000 (101.000.000) 2026-01-01 10:00:00 Job submitted from host: <127.0.0.1:1>
    DAG Node: proc_000001
...
001 (101.000.000) 2026-01-01 10:00:01 Job executing on host: <127.0.0.1:1>
...
000 (102.000.000) 2026-01-01 10:00:02 Job submitted from host: <127.0.0.1:1>
    DAG Node: proc_000000
...
009 (102.000.000) 2026-01-01 10:00:09 Job was aborted.
\tidle for more than 600 s
...
009 (101.000.000) 2026-01-01 10:05:00 Job was aborted.
\twall time above 3600 s
...
"""


def test_periodic_remove_reason_from_the_nodes_log(wudir: Path) -> None:
    from wms2.sandbox.userlog import removal_reason

    (wudir / "group.dag.nodes.log").write_text(NODES_LOG)
    assert removal_reason(wudir, "proc_000001") == "wall time above 3600 s"
    assert removal_reason(wudir, "proc_000002") is None
    assert run_post("proc_000001", "-1002", "0", "3", wudir) == 42
    r = _post(wudir, "proc_000001")
    assert (r.exit_code, r.classification.category) == (50664, "permanent")
    assert "wall time above 3600 s" in r.message
    assert run_post("proc_000000", "-1002", "0", "3", wudir) == 1
    assert _post(wudir, "proc_000000").exit_code == 50665
