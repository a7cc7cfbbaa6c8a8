"""prepare_round from database rows: later rounds, metrics, bans, overrides, sandbox, no status change."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from wms2.config import Settings
from wms2.core.workflow_manager import create_workflow, revalidate, submit_documents
from wms2.db.session import Database
from wms2.db.tables import InputFileRow, RequestRow, SiteBanRow
from wms2.domain.enums import InputFileState
from wms2.planning.service import prepare_round
from wms2.services.local_catalog import LocalCatalog, generate_dataset

from .conftest import data_document, mc_document
from .test_round import METRICS


def _request(session, settings: Settings, doc: dict):  # type: ignore[no-untyped-def]
    (sub,) = submit_documents(session, [("t", doc)], settings, by="test")
    row = session.scalar(select(RequestRow).where(RequestRow.name == sub.name))
    return row, create_workflow(session, row, revalidate(row, settings))


def test_second_round_uses_metrics_and_writes_step_profile(db: Database, settings: Settings) -> None:
    with db.session() as s:
        row, wf = _request(s, settings, mc_document(Multicore=8, Memory=16000, SiteWhitelist=["T2_CH_CERN"]))
        status_before = (row.status, wf.status)
        wf.current_round, wf.next_first_event, wf.next_lumi = 1, 801, 9
        wf.step_metrics = METRICS
        wf.adaptive_params = {"base_events_per_job": 10_000, "historical_peak_rss_mb": 5000}
        s.add(SiteBanRow(site="T2_CH_CERN", workflow_id=None, reason="x",
                         expires_at=datetime.now(UTC) - timedelta(days=1)))  # expired: ignored
        prepared = prepare_round(s, row, wf, settings, LocalCatalog(s), sandbox=False)
        assert prepared.submit_dir is not None and prepared.submit_dir.name == "r1"
        assert prepared.round_params["source"] == "measured" and prepared.round_params["request_cpus"] == 4
        profile = json.loads((prepared.submit_dir / "step_profile.json").read_text())
        assert profile["steps"]["s1"]["cpu_efficiency"] == 0.535 and profile["round"] == 1
        assert (row.status, wf.status) == status_before, "planning never changes status"
        assert wf.next_first_event == 801, "offsets are returned, not written"
        assert prepared.summary()["next_first_event"] == 801 + prepared.plan.events


def test_bans_and_overrides_reach_the_files(db: Database, settings: Settings) -> None:
    with db.session() as s:
        row, wf = _request(s, settings, data_document("FileBased", WMS2Adaptive=False))
        generate_dataset(s, "/TestPrimary/Run2024A-v1/RAW", 6, 100, 2, 1, ["T2_CH_CERN"], seed=2)
        s.add(SiteBanRow(site="T1_US_FNAL", workflow_id=wf.id, reason="too many failures"))
        lfns = [f.lfn for f in LocalCatalog(s).files("/TestPrimary/Run2024A-v1/RAW")]
        row.overrides = {"memory_mb": 7777, "excluded_lfns": [lfns[0]]}
        prepared = prepare_round(s, row, wf, settings, LocalCatalog(s), sandbox=False)
        landing = (prepared.submit_dir / "mg_000000" / "landing.sub").read_text()
        assert 'GLIDEIN_CMSSite =!= "T1_US_FNAL"' in landing and "request_memory = 7777" in landing
        assert lfns[0] not in prepared.files_assigned and len(prepared.files_assigned) == 5
        states = dict(s.execute(select(InputFileRow.lfn, InputFileRow.state)
                                .where(InputFileRow.workflow_id == wf.id)).all())
        assert states[lfns[0]] == InputFileState.excluded
        assert all(states[x] == InputFileState.assigned for x in lfns[1:])
        # nothing left: the next round has no work and writes nothing
        wf.current_round = 1
        again = prepare_round(s, row, wf, settings, LocalCatalog(s), sandbox=False)
        assert not again.has_work and again.submit_dir is None and again.plan.work_remaining is False


def test_sandbox_installed_by_prepare_round(db: Database, settings: Settings) -> None:
    pytest.importorskip("wms2.sandbox.ship", reason="wms2.sandbox.ship (sandbox helper) not available yet")
    with db.session() as s:
        row, wf = _request(s, settings, mc_document())
        prepared = prepare_round(s, row, wf, settings, LocalCatalog(s))
        launcher = prepared.submit_dir / "sandbox" / "wms2-job"
        assert launcher.is_file() and str(prepared.submit_dir / "sandbox") in launcher.read_text()
        assert (prepared.submit_dir / "sandbox" / "wms2" / "sandbox" / "cli.py").is_file()


def test_missing_input_dataset_is_a_planning_error(db: Database, settings: Settings) -> None:
    from wms2.planning.round import PlanningError

    with db.session() as s:
        row, wf = _request(s, settings, data_document("LumiBased"))
        with pytest.raises(PlanningError, match="input_dataset: dataset /TestPrimary/Run2024A-v1/RAW is not in"):
            prepare_round(s, row, wf, settings, LocalCatalog(s), sandbox=False)
