"""Failures and recovery end to end (issue 7 acceptance), with faults injected into the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.e2e.scenario import Scenario, generation_doc, registered_lfns
from wms2.core.operator import get_request
from wms2.db.catalog_tables import CatalogFileRow
from wms2.db.tables import AlertRow

pytestmark = pytest.mark.slow
TEN_WUS = {"planning": {"jobs_per_work_unit": 2, "merge_group_maxjobs": 10}}


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Scenario]:
    sc = Scenario(tmp_path / "home", overrides=TEN_WUS)
    yield sc
    sc.close()


def _catalog_once(sc: Scenario, name: str, events: int) -> None:
    lfns = registered_lfns(sc.db, sc.workflow(name).id)
    assert len(lfns) == len(set(lfns))
    with sc.db.session() as s:
        assert s.scalar(select(func.count(CatalogFileRow.id)).where(CatalogFileRow.lfn.in_(lfns))) == len(lfns)
    assert sc.workflow(name).events_produced == events


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
