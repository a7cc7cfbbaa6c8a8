"""Rendering: the files parse (our own checks and the engines' parsers), atomic writes, retries."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from wms2.config import Settings
from wms2.domain.reqmgr import import_request
from wms2.planning.render.quoting import RenderError
from wms2.planning.render.writer import round_dir, write_round
from wms2.planning.round import plan_round
from wms2.planning.types import InputFile

from .conftest import data_document, inputs_for, mc_document
from .dagcheck import check_round


def _plan(settings: Settings, **doc: object):
    spec = import_request(mc_document(WMS2Adaptive=False, RequestNumEvents=200_000, **doc))
    return spec, plan_round(inputs_for(spec, settings))


def test_round_directory_structure(plan_settings: Settings) -> None:
    spec, plan = _plan(plan_settings, SiteWhitelist=["T2_CH_CERN"])
    result = write_round(plan, spec, "7", plan_settings)
    assert result.submit_dir == plan_settings.submit_base.resolve() / spec.name / "r0"
    assert check_round(result.submit_dir, 3, 20) == {"work_units": 3, "processing": 20}
    assert result.files == 2 + 3 * 6 and result.bytes > 0
    assert (result.submit_dir / "scripts").is_dir()
    assert not [p for p in result.submit_dir.parent.iterdir() if p.name.startswith(".")], "temp dirs left"


def test_engines_parsers_accept_the_round(plan_settings: Settings) -> None:
    parser = pytest.importorskip("wms2.dagman.parser", reason="local engine DAG parser not available")
    submit = pytest.importorskip("wms2.dagman.submit", reason="local engine submit parser not available")
    classad = pytest.importorskip("wms2.engines.local.classad_expr", reason="local ClassAd evaluator not available")
    spec, plan = _plan(plan_settings, SiteWhitelist=["T2_CH_CERN", "T1_US_FNAL"], SiteBlacklist=["T2_DE_DESY"])
    root = write_round(plan, spec, "7", plan_settings).submit_dir
    outer = parser.parse_dag(root / "workflow.dag")
    assert list(outer.nodes) == ["mg_000000", "mg_000001", "mg_000002"]
    assert all(n.is_subdag and n.directory == n.name and n.category == "MergeGroup" for n in outer.nodes.values())
    assert outer.maxjobs["MergeGroup"] == 10 and outer.config_file is not None
    group = parser.parse_dag(root / "mg_000000" / "group.dag")
    assert len(group.nodes) == 11
    assert group.nodes["landing"].children == [f"proc_{i:06d}" for i in range(8)]
    assert group.nodes["proc_000003"].children == ["merge"] and group.nodes["merge"].children == ["cleanup"]
    proc = group.nodes["proc_000003"]
    assert (proc.retries, proc.unless_exit, proc.abort_on, proc.abort_return) == (3, 42, 43, 1)
    assert proc.pre and proc.pre.command == "../sandbox/wms2-job pre $JOB"
    assert proc.post and proc.post.command == "../sandbox/wms2-job post $JOB $RETURN $RETRY $MAX_RETRIES"
    assert group.maxjobs == {"Processing": 5000, "Merge": 100, "Cleanup": 50}
    wdir = root / "mg_000000"
    (wdir / "proc_000003.override.sub").write_text('+DESIRED_Sites = "T2_CH_CERN"\nrequest_memory = 3000\n')
    desc = submit.parse_submit(wdir / "proc.sub", prepend=proc.vars)
    assert desc.expand(desc.raw("arguments") or "") == '"run --manifest manifest.json --node proc_000003"'
    assert desc.raw("request_memory") == "3000", "the override file must win (included last)"
    assert desc.attrs["CMS_NodeRole"] == '"Processing"' and desc.attrs["WMS2_Round"] == "0"
    now = int(time.time())
    job = classad.ClassAd({k: v for k, v in desc.attrs.items()})
    machine = classad.ClassAd.from_literals({"GLIDEIN_CMSSite": "T1_US_FNAL"})
    req = classad.evaluate(desc.raw("requirements") or "", job, machine)
    assert req is True
    assert classad.evaluate(desc.raw("requirements") or "", job,
                            classad.ClassAd.from_literals({"GLIDEIN_CMSSite": "T2_DE_DESY"})) is False
    held = classad.ClassAd.from_literals({"JobStatus": 5, "EnteredCurrentStatus": now - 100_000, "RequestDisk": 1})
    assert classad.evaluate(desc.raw("periodic_remove") or "", held) is True
    assert "held for more than" in classad.evaluate(desc.attrs["PeriodicRemoveReason"], held)
    running = classad.ClassAd.from_literals({"JobStatus": 2, "JobCurrentStartDate": now, "DiskUsage": 1,
                                             "RequestDisk": 100, "EnteredCurrentStatus": now})
    assert classad.evaluate(desc.raw("periodic_remove") or "", running) is False


def test_location_constraint_only_on_landing(plan_settings: Settings) -> None:
    spec = import_request(data_document("FileBased", WMS2Adaptive=False))
    files = tuple(InputFile(f"/store/data/f{i:02d}.root", 100, lumis=((1, (i + 1,)),),
                            locations=("T1_US_FNAL", "T2_CH_CERN") if i < 16 else ("T2_DE_DESY",)) for i in range(32))
    plan = plan_round(inputs_for(spec, plan_settings, files=files))
    root = write_round(plan, spec, "7", plan_settings).submit_dir
    landing = (root / "mg_000000" / "landing.sub").read_text()
    assert '(GLIDEIN_CMSSite =?= "T1_US_FNAL" || GLIDEIN_CMSSite =?= "T2_CH_CERN")' in landing
    assert "requirements = true" in (root / "mg_000000" / "proc.sub").read_text()
    assert '(GLIDEIN_CMSSite =?= "T2_DE_DESY")' in (root / "mg_000001" / "landing.sub").read_text()
    assert "T2_DE_DESY" not in (root / "mg_000000" / "landing.sub").read_text()


def test_crash_leftovers_are_cleaned_and_unsubmitted_round_replaced(plan_settings: Settings) -> None:
    spec, plan = _plan(plan_settings)
    final = round_dir(plan_settings, spec.name, 0)
    stale = final.parent / ".r0.tmp-1-deadbeef"
    (stale / "mg_000000").mkdir(parents=True)
    write_round(plan, spec, "7", plan_settings)
    assert not stale.exists()
    (final / "mg_000000" / "extra").write_text("from an earlier attempt")
    write_round(plan, spec, "7", plan_settings)
    assert not (final / "mg_000000" / "extra").exists()
    (final / "workflow.dag.condor.sub").write_text("submitted")
    with pytest.raises(RenderError, match="already submitted"):
        write_round(plan, spec, "7", plan_settings)


def test_failure_mid_render_leaves_nothing(plan_settings: Settings) -> None:
    spec, plan = _plan(plan_settings)

    def broken_installer(dest: Path) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_round(plan, spec, "7", plan_settings, install_sandbox=broken_installer)
    parent = round_dir(plan_settings, spec.name, 0).parent
    assert list(parent.iterdir()) == []


def test_sandbox_is_installed_at_its_final_place(plan_settings: Settings) -> None:
    ship = pytest.importorskip("wms2.sandbox.ship", reason="wms2.sandbox.ship (sandbox helper) not available yet")
    spec, plan = _plan(plan_settings)
    root = write_round(plan, spec, "7", plan_settings, install_sandbox=ship.install_sandbox).submit_dir
    launcher = root / "sandbox" / "wms2-job"
    assert launcher.is_file() and os.access(launcher, os.X_OK)
    assert str(root / "sandbox") in launcher.read_text() and ".tmp-" not in launcher.read_text()
