"""A small driver for end-to-end failure scenarios: the real lifecycle, engine and simulator, with
the test choosing when an operator steps in."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from wms2.config import Settings
from wms2.core.cycle_wait import CycleWaiter
from wms2.core.demo import DEMO_DATASET, DEMO_SITES, demo_settings, load_samples
from wms2.core.lifecycle import LifecycleManager
from wms2.core.operator import Operator
from wms2.core.service import init_home
from wms2.core.wiring import build_operator, build_workers
from wms2.core.workflow_manager import submit_documents
from wms2.core.wu_records import workflow_outputs
from wms2.db.session import Database
from wms2.db.tables import DagRow, RequestRow, WorkflowRow
from wms2.engines.base import Engine
from wms2.services.local_catalog import generate_dataset


def generation_doc(name: str, events: int, events_per_job: int, adaptive: bool, **extra: Any) -> dict[str, Any]:
    doc = copy.deepcopy(load_samples()[0][1])
    doc["RequestName"] = name
    proc = "GEN_" + name.replace("-", "_")  # every request writes its own output dataset
    doc["ProcessingString"] = doc["Step1"]["ProcessingString"] = proc
    doc["Step1"]["RequestNumEvents"] = events
    doc["Step1"]["EventsPerJob"] = events_per_job
    doc["WMS2Adaptive"] = adaptive
    doc.update(extra)
    return doc


def filebased_doc(name: str, **extra: Any) -> dict[str, Any]:
    doc = copy.deepcopy(load_samples()[1][1])
    doc["RequestName"] = name
    doc["ProcessingString"] = "ReReco_" + name.replace("-", "_")
    doc["SplittingAlgo"] = "FileBased"
    doc["FilesPerJob"] = 1
    doc.pop("LumiList")
    doc.update(extra)
    return doc


# At the latest every 0.5 s a cycle (the period these tests always used); sooner after a transition or
# when a DAG job changes (CycleWaiter).  The pool daemon notices a stop within 50 ms instead of 0.5 s.
DRIVER_SETTINGS: dict[str, dict[str, Any]] = {"lifecycle": {"cycle_seconds": 0.5}, "engine": {"server_poll_s": 0.05}}


class Scenario:
    def __init__(self, home: Path, overrides: dict[str, dict[str, Any]] | None = None,
                 dataset_files: int = 0) -> None:
        home.mkdir(parents=True, exist_ok=True)
        sections = {k: dict(v) for k, v in DRIVER_SETTINGS.items()}
        for section, values in (overrides or {}).items():
            sections.setdefault(section, {}).update(values)
        self.settings: Settings = demo_settings(home, sections)
        self.db: Database = init_home(self.settings)
        if dataset_files:
            with self.db.session() as s:
                generate_dataset(s, DEMO_DATASET, files=dataset_files, events_per_file=200, lumis_per_file=4,
                                 runs=[400001], sites=list(DEMO_SITES), seed=7)
        workers = build_workers(self.settings, self.db)
        assert workers.engine is not None
        self.engine: Engine = workers.engine
        self.manager = LifecycleManager(self.db, self.settings, workers)
        self.operator: Operator = build_operator(self.settings, self.engine)
        self.waiter = CycleWaiter(self.settings)

    def submit(self, *docs: dict[str, Any]) -> None:
        with self.db.session() as s:
            submit_documents(s, [(d["RequestName"], d) for d in docs], self.settings, by="test")

    def status(self, name: str) -> str:
        with self.db.session() as s:
            return str(s.scalar(select(RequestRow.status).where(RequestRow.name == name)))

    def run_until(self, done: Callable[[], bool], timeout: float = 240.0) -> None:
        """Run cycles until ``done()``; between two cycles wait for a transition or an engine change
        (``CycleWaiter``), at the latest ``cycle_seconds``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            report = self.manager.run_cycle()
            assert not report.errors, report.errors
            if done():
                return
            self.waiter.wait(report.transitions)
        raise AssertionError(f"timed out; statuses: {self.statuses()}")

    def until_status(self, name: str, *statuses: str, timeout: float = 240.0) -> None:
        self.run_until(lambda: self.status(name) in statuses, timeout)

    def statuses(self) -> dict[str, str]:
        with self.db.session() as s:
            return {r.name: str(r.status) for r in s.scalars(select(RequestRow))}

    def dags(self, name: str) -> list[DagRow]:
        with self.db.session() as s:
            req = s.scalar(select(RequestRow).where(RequestRow.name == name))
            wf = s.scalar(select(WorkflowRow).where(WorkflowRow.request_id == req.id))
            return list(s.scalars(select(DagRow).where(DagRow.workflow_id == wf.id).order_by(DagRow.id)))

    def workflow(self, name: str) -> WorkflowRow:
        with self.db.session() as s:
            req = s.scalar(select(RequestRow).where(RequestRow.name == name))
            return s.scalar(select(WorkflowRow).where(WorkflowRow.request_id == req.id))

    def close(self) -> None:
        from wms2.engines.local_engine import stop_pool

        stop_pool(self.settings)
        self.db.dispose()


def registered_lfns(db: Database, workflow_id: int) -> list[str]:
    """Every LFN recorded as produced by a completed WU of the workflow (duplicates kept)."""
    with db.session() as s:
        return [f["lfn"] for rec in workflow_outputs(s, workflow_id).values() for f in rec["files"]]


def elected_sites(dag: DagRow) -> dict[str, str]:
    out = {}
    for wu_dir in sorted(Path(dag.submit_dir).glob("mg_*")):
        f = wu_dir / "elected_site"
        if f.is_file():
            out[wu_dir.name] = f.read_text().strip()
    return out
