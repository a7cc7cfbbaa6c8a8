"""Failures and recovery end to end (issue 7 acceptance), with faults injected into the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.e2e.scenario import Scenario, elected_sites, filebased_doc, generation_doc, registered_lfns
from wms2.core.errors import error_summary
from wms2.core.operator import ReleaseOverrides, get_request
from wms2.core.site_bans import banned_sites, lift_ban
from wms2.db.catalog_tables import CatalogFileRow
from wms2.db.tables import AlertRow, InputFileRow, SiteBanRow
from wms2.engines.base import DagJobState

pytestmark = pytest.mark.slow
TEN_WUS = {"planning": {"jobs_per_work_unit": 2, "merge_group_maxjobs": 10}}


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Scenario]:
    sc = Scenario(tmp_path / "home", overrides=TEN_WUS)
    yield sc
    sc.close()


def _catalog_once(sc: Scenario, name: str, events: int) -> None:
    lfns = registered_lfns(sc.dags(name))
    assert len(lfns) == len(set(lfns))
    with sc.db.session() as s:
        assert s.scalar(select(func.count(CatalogFileRow.id)).where(CatalogFileRow.lfn.in_(lfns))) == len(lfns)
    assert sc.workflow(name).events_produced == events


def test_transient_failures_are_rescued(scenario: Scenario) -> None:
    fault = {"exit_code": 50115, "work_units": ["mg_000003"], "fail_attempts": 4}  # beats RETRY 3 once
    scenario.submit(generation_doc("transient", 2000, 100, adaptive=False, WMS2Faults=[fault]))
    scenario.until_status("transient", "completed", "held")
    assert scenario.status("transient") == "completed"
    dags = scenario.dags("transient")
    assert [d.rescue_kind for d in dags] == [None, "failure"]
    assert dags[0].round_metrics["failed_work_units"] == ["mg_000003"]
    _catalog_once(scenario, "transient", 2000)


def test_permanent_failures_hold_then_release_or_fail(scenario: Scenario) -> None:
    bad_wus = ["mg_000001", "mg_000004", "mg_000006", "mg_000008"]
    fault = {"exit_code": 8001, "work_units": bad_wus, "rounds": [0]}
    scenario.submit(generation_doc("held_a", 2000, 100, adaptive=False, WMS2Faults=[fault]),
                    generation_doc("held_b", 2000, 100, adaptive=False, WMS2Faults=[fault]))
    scenario.run_until(lambda: set(scenario.statuses().values()) == {"held"})
    with scenario.db.session() as s:
        summary = error_summary(s, get_request(s, "held_a"))
        reason = get_request(s, "held_a").status_transitions[-1]["reason"]
    assert "4 of 10 work units failed" in reason
    # Both processing nodes of each bad WU fail with 8001: the first is permanent, and the second,
    # repeating a sibling's exit code, is the catastrophic pattern (the WU's sub-DAG is aborted).
    assert set(summary["by_category"]) <= {"permanent", "catastrophic"} and summary["by_category"]["permanent"] >= 4
    assert set(summary["by_exit_code"]) == {"8001"}
    assert sum(summary["by_site"].values()) == summary["failures"] and summary["samples"]
    now = datetime.now(UTC)
    with scenario.db.session() as s:
        scenario.operator.release(s, "held_a", "op", "fault fixed", now, ReleaseOverrides())
        produced = scenario.operator.fail(s, "held_b", "op", "give up", now)
    assert produced["dag_removed"] is False
    scenario.until_status("held_a", "completed", "held")
    assert scenario.status("held_a") == "completed" and scenario.status("held_b") == "failed"
    _catalog_once(scenario, "held_a", 2000)
    for dag in scenario.dags("held_b"):
        if dag.cluster_id is not None:
            assert scenario.engine.query(dag.cluster_id, dag.schedd_name).state in (
                DagJobState.gone, DagJobState.completed, DagJobState.removed)


def test_failing_site_is_banned_and_avoided(tmp_path: Path) -> None:
    # Ten WUs from the pilot round on, so that several land on each site.
    planning = {"jobs_per_work_unit": 2, "first_round_work_units": 10, "work_units_per_round": 10,
                "merge_group_maxjobs": 10}
    sc = Scenario(tmp_path / "home", overrides={"planning": planning, "failures": {
        "rescue_failure_ratio": 0.95, "transient_cooloff_base_s": 0.0, "transient_cooloff_max_s": 0.0}})
    try:
        fault = {"exit_code": 60311, "only_at_site": "T1_XX_SiteB"}  # stage-out failure, every job there
        sc.submit(generation_doc("site", 3000, 100, adaptive=True, WMS2Faults=[fault]))
        sc.until_status("site", "completed", "held", timeout=400)
        assert sc.status("site") == "completed", sc.statuses()
        dags = sc.dags("site")
        with sc.db.session() as s:
            bans = list(s.scalars(select(SiteBanRow)))
        assert [b.site for b in bans] == ["T1_XX_SiteB"] and bans[0].workflow_id is not None
        after_ban = [d for d in dags if d.created_at >= bans[0].created_at]
        assert after_ban, "a rescue or a later round ran after the ban"
        for dag in after_ban:
            for wu, site in elected_sites(dag).items():
                if wu not in dags[0].completed_work_units or dag.round > 0:
                    assert site != "T1_XX_SiteB" or wu in dags[0].completed_work_units
        _catalog_once(sc, "site", 3000)
        with sc.db.session() as s:
            wf_id = bans[0].workflow_id
            assert banned_sites(s, wf_id, datetime.now(UTC)) == ["T1_XX_SiteB"]
            assert banned_sites(s, wf_id, datetime.now(UTC) + timedelta(days=8)) == []  # expiry
            lift_ban(s, bans[0].id, "op", datetime.now(UTC))
            assert banned_sites(s, wf_id, datetime.now(UTC)) == []
    finally:
        sc.close()


def test_memory_fault_retries_with_more_memory(tmp_path: Path) -> None:
    sc = Scenario(tmp_path / "home", overrides={"resources": {"default_memory_per_core_mb": 100}})
    try:
        _memory_fault(sc)
    finally:
        sc.close()


def _memory_fault(scenario: Scenario) -> None:
    fault = {"memory_blowup_mb": 400, "work_units": ["mg_000000"], "nodes": ["proc_000000"], "fail_attempts": 1}
    doc = generation_doc("memory", 400, 100, adaptive=False, WMS2Faults=[fault], Memory=300, Multicore=1)
    scenario.submit(doc)
    scenario.until_status("memory", "completed", "held")
    assert scenario.status("memory") == "completed"
    dag = scenario.dags("memory")[0]
    assert dag.round_params["request_memory_mb"] == 300
    wu = Path(dag.submit_dir) / "mg_000000"
    base = dag.round_params["request_memory_mb"]
    override = (wu / "proc_000000.override.sub").read_text()
    assert f"request_memory = {int(base * 1.5)}" in override, override
    assert "request_memory" not in (wu / "proc_000001.override.sub").read_text()


def test_data_fault_excludes_the_file(tmp_path: Path) -> None:
    sc = Scenario(tmp_path / "home", overrides={"failures": {"bad_file_min_sites": 1}}, dataset_files=6)
    try:
        with sc.db.session() as s:
            from wms2.services.local_catalog import LocalCatalog

            files = LocalCatalog(s).files("/DemoMuon/Run2026A-v1/RAW")
        bad = files[2].lfn
        sc.submit(filebased_doc("data", WMS2Faults=[{"bad_input_lfn": bad}]))
        sc.until_status("data", "completed", "held")
        assert sc.status("data") == "completed", sc.statuses()
        with sc.db.session() as s:
            states = dict(s.execute(select(InputFileRow.lfn, InputFileRow.state)).all())
            summary = error_summary(s, get_request(s, "data"))
        assert states[bad] == "excluded"
        assert all(state == "processed" for lfn, state in states.items() if lfn != bad), states
        assert summary["excluded_files"] == [bad] and summary["bad_input_files"] == [bad]
    finally:
        sc.close()


def test_clean_stop_resumes_without_loss(scenario: Scenario) -> None:
    scenario.submit(generation_doc("stopme", 2000, 100, adaptive=False,
                                   WMS2Simulator={"cpu_seconds_per_event": 0.002, "memory_mb": 100}))
    scenario.run_until(lambda: (scenario.status("stopme") == "active" and any(
        d.completed_work_units for d in scenario.dags("stopme"))) or scenario.status("stopme") == "completed")
    if scenario.status("stopme") == "active":
        with scenario.db.session() as s:
            scenario.operator.stop(s, "stopme", "op", "site downtime", datetime.now(UTC))
    scenario.until_status("stopme", "completed", "held")
    assert scenario.status("stopme") == "completed"
    kinds = [d.rescue_kind for d in scenario.dags("stopme")]
    assert kinds == [None, "stop"], kinds
    _catalog_once(scenario, "stopme", 2000)


def test_production_steps_demote_adaptive(scenario: Scenario) -> None:
    doc = generation_doc("steps", 4000, 500, adaptive=True, RequestPriority=90000,
                         WMS2ProductionSteps=[{"fraction": 0.3, "priority": 1000}])
    scenario.submit(doc)
    seen: list[tuple[float, int]] = []

    def record() -> bool:
        wf, req_status = scenario.workflow("steps"), scenario.status("steps")
        with scenario.db.session() as s:
            seen.append((wf.events_produced / 4000, get_request(s, "steps").priority))
        return req_status in ("completed", "held")

    scenario.run_until(record, timeout=300)
    assert scenario.status("steps") == "completed"
    for fraction, priority in seen:
        assert priority == (1000 if fraction >= 0.3 else 90000) or fraction >= 0.3, seen
    assert seen[-1][1] == 1000


def test_production_steps_non_adaptive_stop_and_resume(scenario: Scenario) -> None:
    doc = generation_doc("nsteps", 2000, 100, adaptive=False, RequestPriority=90000,
                         WMS2ProductionSteps=[{"fraction": 0.3, "priority": 1000}],
                         WMS2Simulator={"cpu_seconds_per_event": 0.002, "memory_mb": 100})
    scenario.submit(doc)
    scenario.until_status("nsteps", "completed", "held")
    assert scenario.status("nsteps") == "completed"
    dags = scenario.dags("nsteps")
    assert [d.rescue_kind for d in dags] == [None, "stop"]
    produced_at_stop = sum(len(d.completed_work_units) for d in dags[:1])
    assert 3 <= produced_at_stop <= 10  # bounded overshoot: at most the WUs in flight
    with scenario.db.session() as s:
        assert get_request(s, "nsteps").priority == 1000
    _catalog_once(scenario, "nsteps", 2000)


def test_restart_versions_and_cleanup(scenario: Scenario) -> None:
    scenario.submit(generation_doc("v_imm", 400, 100, adaptive=False),
                    generation_doc("v_keep", 400, 100, adaptive=False))
    scenario.run_until(lambda: set(scenario.statuses().values()) == {"completed"})
    now = datetime.now(UTC)
    from wms2.domain.enums import CleanupPolicy

    with scenario.db.session() as s:
        new_imm = scenario.operator.restart(s, "v_imm", "op", "schedd lost", now, CleanupPolicy.immediate_cleanup)
        new_keep = scenario.operator.restart(s, "v_keep", "op", "schedd lost", now, CleanupPolicy.keep_until_replaced)
    assert new_imm == "v_imm_v2"
    scenario.run_until(lambda: scenario.status(new_imm) == "completed" and scenario.status(new_keep) == "completed")
    from wms2.core.operator import versions

    with scenario.db.session() as s:
        chain = versions(s, new_imm)
        assert [v["name"] for v in chain] == ["v_imm", "v_imm_v2"]
        assert chain[0]["status"] == "completed" and chain[0]["superseded_by"] == "v_imm_v2"
        old_imm = scenario.workflow("v_imm").id
        old_keep = scenario.workflow("v_keep").id
        from wms2.db.tables import ProcessingBlockRow

        imm = set(s.scalars(select(ProcessingBlockRow.status).where(ProcessingBlockRow.workflow_id == old_imm)))
        keep = set(s.scalars(select(ProcessingBlockRow.status).where(ProcessingBlockRow.workflow_id == old_keep)))
        assert imm == {"invalidated"} and keep == {"archived"}
        assert get_request(s, new_imm).processing_version == 2


def test_schedd_gone_alerts_without_action(tmp_path: Path) -> None:
    sc = Scenario(tmp_path / "home", overrides={"lifecycle": {"cycle_seconds": 0.5, "timeout_active": 3.0}})
    try:
        sc.submit(generation_doc("gone", 4000, 100, adaptive=False,
                                 WMS2Simulator={"cpu_seconds_per_event": 0.01, "memory_mb": 100}))
        sc.until_status("gone", "active")
        from wms2.engines.local_engine import stop_pool

        stop_pool(sc.settings)
        sc.run_until(lambda: _alerts(sc) != [], timeout=60)
        assert sc.status("gone") == "active"
        kinds = _alerts(sc)
        assert kinds[0][0] == "schedd_unreachable" and "no automatic action" in kinds[0][1]
    finally:
        sc.close()


def _alerts(sc: Scenario) -> list[tuple[str, str]]:
    with sc.db.session() as s:
        return [(a.kind, a.reason) for a in s.scalars(select(AlertRow))]
