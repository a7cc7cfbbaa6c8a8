"""The six ReqMgr2 fixture requests, planned end to end from the database with generated datasets.

Node counts are predicted independently (from the request numbers and the selected lumis) and
compared with what is on disk, read by our own structural checks and by the engine's DAG parser.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from wms2.config import Settings
from wms2.core.workflow_manager import create_workflow, revalidate, submit_documents
from wms2.db.session import Database
from wms2.db.tables import InputFileRow, RequestRow
from wms2.domain.enums import InputFileState
from wms2.planning import sizing
from wms2.planning.service import prepare_round, selection_for
from wms2.services.local_catalog import LocalCatalog, generate_dataset

from .conftest import FIXTURE_NAMES, REQMGR
from .dagcheck import check_round

# Generated input datasets: (runs, files, lumis per file, events per file).  Events per lumi are
# chosen so that EventAwareLumiBased targets are a whole number of lumis (9600 = 8 x 1200,
# 28200 = 8 x 3525), and extra runs outside the run lists / masks prove the selection.
DATASETS: dict[str, tuple[list[int], int, int, int]] = {
    "/SingleElectron/Run2017F-v1/RAW": ([305064, 306125, 306456, 306459, 307000], 25, 10, 12_000),
    "/MuonEG/Run2022C-v1/RAW": ([356164, 356165, 356174, 356200], 16, 10, 35_250),
    "/JetHT/Run2012C-v1/RAW": ([202205, 202209, 202300], 30, 10, 5_000),
}
# Hand-computed processing jobs of the whole (non-adaptive) work, for the record:
EXPECTED_JOBS = {"ReRecoRequestDump": 28, "ReReco_LumiMask": 5, "TaskChainRequestDump": 24,
                 "SC_6Tasks_PU": 67, "SC_ProdPsi": 15, "StepChainRequestDump": 100}
SITES = ["T1_US_FNAL", "T2_CH_CERN"]


def _setup(session: Any, settings: Settings, stem: str, adaptive: bool) -> tuple[RequestRow, Any]:
    doc = json.loads((REQMGR / f"{stem}.json").read_text())
    target = doc.get("assignRequest", doc) if "createRequest" in doc else doc
    target["WMS2Adaptive"] = adaptive
    (sub,) = submit_documents(session, [(stem, doc)], settings, by="test")
    row = session.scalar(select(RequestRow).where(RequestRow.name == sub.name))
    spec = revalidate(row, settings)
    if spec.input_dataset:
        runs, files, lumis, events = DATASETS[spec.input_dataset]
        generate_dataset(session, spec.input_dataset, files, events, lumis, runs, SITES, seed=4)
    return row, create_workflow(session, row, spec)


def _predicted_jobs(session: Any, spec: Any) -> int:
    if spec.is_generation:
        generated = math.ceil(spec.splitting.request_num_events / spec.splitting.filter_efficiency)
        return math.ceil(generated / spec.splitting.events_per_job)
    files = LocalCatalog(session).files(spec.input_dataset, selection_for(spec))
    per_run = Counter(ls.run for f in files for ls in f.lumis)
    if spec.splitting.algo.value == "LumiBased":
        per_job = spec.splitting.lumis_per_job
    else:  # EventAwareLumiBased with whole-lumi targets
        per_lumi = files[0].events // len(files[0].lumis)
        per_job = spec.splitting.events_per_job // per_lumi
    return sum(math.ceil(n / per_job) for n in per_run.values())


@pytest.mark.parametrize("stem", FIXTURE_NAMES)
def test_whole_work_matches_prediction(db: Database, settings: Settings, stem: str) -> None:
    parser = pytest.importorskip("wms2.dagman.parser", reason="local engine DAG parser not available")
    with db.session() as s:
        row, wf = _setup(s, settings, stem, adaptive=False)
        spec = revalidate(row, settings)
        jobs = _predicted_jobs(s, spec)
        assert jobs == EXPECTED_JOBS[stem]
        prepared = prepare_round(s, row, wf, settings, LocalCatalog(s), sandbox=False)
        per_group = settings.planning.jobs_per_work_unit
        assert len(prepared.plan.jobs) == jobs
        assert prepared.plan.total_nodes == sizing.node_count(jobs, per_group)
        wus = sizing.work_unit_count(jobs, per_group)
        assert check_round(prepared.submit_dir, wus, jobs) == {"work_units": wus, "processing": jobs}
        outer = parser.parse_dag(prepared.dag_file)
        inner = sum(len(parser.parse_dag(prepared.submit_dir / n / "group.dag").nodes) for n in outer.nodes)
        assert inner == prepared.plan.total_nodes
        assert [b.dataset for b in prepared.blocks] == [o.name for o in spec.output_datasets]
        assert not prepared.plan.work_remaining
        if spec.input_dataset:
            states = dict(s.execute(select(InputFileRow.state, func.count()).where(
                InputFileRow.workflow_id == wf.id).group_by(InputFileRow.state)).all())
            assert states == {InputFileState.assigned: len(prepared.files_assigned)}
            assert prepared.plan.events == sum(f.events for f in LocalCatalog(s).files(
                spec.input_dataset, selection_for(spec)))


@pytest.mark.parametrize("stem", FIXTURE_NAMES)
def test_adaptive_pilot_round(db: Database, settings: Settings, stem: str) -> None:
    with db.session() as s:
        row, wf = _setup(s, settings, stem, adaptive=True)
        dry = prepare_round(s, row, wf, settings, LocalCatalog(s), dry_run=True)
        assert dry.submit_dir is None and not settings.submit_base.exists()
        prepared = prepare_round(s, row, wf, settings, LocalCatalog(s), sandbox=False)
        plan = prepared.plan
        assert plan.summary()["nodes"] == dry.summary()["nodes"], "dry run previews the same round"
        assert plan.params.effective_fraction == 0.01 and plan.work_remaining
        if revalidate(row, settings).is_generation:
            assert (len(plan.jobs), len(plan.work_units), plan.total_nodes) == (8, 1, 11)
        else:
            assert len(plan.jobs) >= 8 and len(plan.work_units) == math.ceil(len(plan.jobs) / 8)
        check_round(prepared.submit_dir, len(plan.work_units), len(plan.jobs))
