"""A real request on the local engine, two `wms2 run` processes on one PostgreSQL: the owner is
SIGKILLed while the round runs, the stand-by takes over and completes the request; no DAG is submitted
twice and no output is registered twice (issue 15 acceptance)."""

from __future__ import annotations

import copy
import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.ownership.conftest import Procs, log_of, wait_for
from tests.ownership.test_processes import START_S, TAKEOVER_BOUND_S, _lease, _owned_by, shared_db  # noqa: F401
from wms2.config import load_settings
from wms2.core.demo import demo_settings, load_samples
from wms2.core.workflow_manager import submit_documents
from wms2.core.wu_records import workflow_outputs
from wms2.db.catalog_tables import CatalogFileRow
from wms2.db.session import Database
from wms2.db.tables import DagRow, RequestRow, WorkflowRow

pytestmark = pytest.mark.slow
EVENTS = 6000
COMPLETE_S = 600.0  # the whole request on a loaded 2-core machine


def _status(db: Database) -> str:
    with db.session() as s:
        req = s.scalar(select(RequestRow))
        return str(req.status) if req is not None else "none"


def test_owner_killed_mid_round_standby_completes_once(shared_db: Database, procs: Procs, home: Path,  # noqa: F811
                                                       db_url: str) -> None:
    if shared_db.engine.dialect.name != "postgresql":
        pytest.skip("stand-by processes need PostgreSQL")
    for key in ("WMS2_ENGINE__KIND", "WMS2_ENGINE__SCHEDDS"):
        procs.env.pop(key)
    demo_settings(home)  # wms2.toml: the local pool's sites and small demo sizes
    settings = load_settings(home, database_url=db_url)
    doc = copy.deepcopy(load_samples()[0][1])
    doc["RequestName"] = "takeover_generation"
    doc["Step1"]["RequestNumEvents"] = EVENTS
    with shared_db.session() as s:
        submit_documents(s, [("takeover", doc)], settings, by="test")
    owner = procs.start("run", "--home", str(home), name="owner")
    wait_for(lambda: _owned_by(shared_db, owner.pid) or owner.poll() is not None, START_S, "the owner")
    standby = procs.start("run", "--standby", "--home", str(home), name="standby")
    wait_for(lambda: "stand-by" in log_of(standby) or standby.poll() is not None, START_S, "the stand-by")
    wait_for(lambda: _status(shared_db) == "active" or owner.poll() is not None, START_S, "an active round")
    assert owner.poll() is None, log_of(owner)
    os.killpg(owner.pid, signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: _owned_by(shared_db, standby.pid) or standby.poll() is not None, TAKEOVER_BOUND_S + 30,
             "the takeover")
    assert time.monotonic() - killed <= TAKEOVER_BOUND_S + 30
    try:
        wait_for(lambda: _status(shared_db) in ("completed", "failed", "held") or standby.poll() is not None,
                 COMPLETE_S, "the request to finish")
        assert _status(shared_db) == "completed", log_of(standby)[-3000:]
    finally:
        from wms2.engines.local.client import PoolClient
        from wms2.engines.local_engine import stop_pool

        code, listing = PoolClient(settings.pool_dir, settings.engine.pool_host).request("GET", "/list")
        stop_pool(settings)
    with shared_db.session() as s:
        dags = list(s.scalars(select(DagRow)))
        clusters = [d.cluster_id for d in dags if d.cluster_id is not None]
        assert len(clusters) == len(set(clusters)) == len(dags)
        wf = s.scalar(select(WorkflowRow))
        assert wf is not None and wf.events_produced == EVENTS
        lfns = [f["lfn"] for rec in workflow_outputs(s, wf.id).values() for f in rec["files"]]
        assert len(lfns) == len(set(lfns))
        assert s.scalar(select(func.count(CatalogFileRow.id))) == len(lfns)
    # the pool ran each round's DAG once (the other DAGMan jobs are the merge-group sub-DAGs)
    submitted = [str(Path(d["dag_file"]).resolve()) for d in listing.get("dags", [])]
    assert code == 200 and sorted(f for f in submitted if f in {str(Path(d.dag_file).resolve()) for d in dags}) \
        == sorted(str(Path(d.dag_file).resolve()) for d in dags)
