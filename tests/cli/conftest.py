"""CLI fixtures: a migrated database (SQLite and PostgreSQL) behind a home, a small state (requests in
several statuses, a completed DAG with work units, a live DAG with DAGMan files, bans), and a real
uvicorn server on loopback serving the same database."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select, text
from typer.testing import CliRunner

from tests.api.conftest import RecordingEngine
from tests.core.helpers import stepchain_doc, submit
from tests.dag_files import write_running_dag
from wms2.api import create_app
from wms2.api.auth import create_token
from wms2.cli import app
from wms2.cli.client import LocalClient
from wms2.config import Settings, load_settings
from wms2.core.lifecycle import LifecycleManager
from wms2.core.transitions import SYSTEM, transition, transition_dag, transition_workflow
from wms2.db.base import Base, utcnow
from wms2.db.migrate import upgrade
from wms2.db.session import Database
from wms2.db.tables import DagRow, RequestRow, SiteBanRow, WorkflowRow
from wms2.domain.enums import DAGStatus, RequestStatus, WorkflowStatus

SERVER_START_S = 10.0
runner = CliRunner()


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, f"exit {self.code}: {self.err}"
        return json.loads(self.out)


def wms2(*args: str, env: dict[str, str] | None = None) -> Result:
    r = runner.invoke(app, list(args), env=env)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return Result(r.exit_code, r.stdout, r.stderr)


def _reset(db: Database) -> None:
    Base.metadata.drop_all(db.engine)
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture
def cli_settings(db_url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("WMS2_DATABASE_URL", db_url)
    return load_settings(home)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> RecordingEngine:
    """The local mode's engine, recorded (no pool daemon is started)."""
    recording = RecordingEngine()
    monkeypatch.setattr(LocalClient, "engine", lambda self: recording)
    return recording


@pytest.fixture
def cli_db(cli_settings: Settings, engine: RecordingEngine) -> Iterator[Database]:
    """A database migrated like `wms2 init` does (the CLI refuses a schema not at the newest revision)."""
    db = Database(cli_settings.db_url)
    _reset(db)
    upgrade(db.engine)
    try:
        yield db
    finally:
        _reset(db)
        db.dispose()


def _to(session: Any, name: str, *steps: RequestStatus) -> tuple[RequestRow, WorkflowRow]:
    row = session.scalar(select(RequestRow).where(RequestRow.name == name))
    wf = session.scalar(select(WorkflowRow).where(WorkflowRow.request_id == row.id))
    for status in steps:
        transition(row, status, SYSTEM, "test state")
    return row, wf


def _dag(session: Any, wf: WorkflowRow, submit_dir: Path, status: DAGStatus, done: int, total: int = 2) -> DagRow:
    dag = DagRow(workflow_id=wf.id, round=0, dag_file=str(submit_dir / "workflow.dag"), submit_dir=str(submit_dir),
                 cluster_id=4242 + wf.id, schedd_name="local", total_nodes=11 * total, total_work_units=total,
                 status=DAGStatus.ready, submitted_at=utcnow() - timedelta(hours=1),
                 completed_work_units={f"mg_{i:06d}": {"files": []} for i in range(done)},
                 round_params={"request_memory_mb": 2000, "events_per_job": 100})
    session.add(dag)
    session.flush()
    transition_dag(session, dag, DAGStatus.submitted)
    if status != DAGStatus.submitted:
        transition_dag(session, dag, status)
    wf.current_dag_id = dag.id
    return dag


@dataclass
class State:
    settings: Settings
    db: Database
    tmp: Path


@pytest.fixture
def state(cli_db: Database, cli_settings: Settings, fixtures_dir: Path, tmp_path: Path) -> State:
    """q_low, q_high queued; r_active running (live DAG files); r_done completed (DAG with 2 WUs);
    r_held held after a partial DAG; r_new submitted; two bans (one expired)."""
    docs = [stepchain_doc(fixtures_dir, n, priority=p) for n, p in
            (("q_low", 1000), ("q_high", 5000), ("r_active", 100), ("r_done", 100), ("r_held", 100))]
    submit(cli_db, cli_settings, docs)
    LifecycleManager(cli_db, cli_settings).run_cycle()  # submitted -> queued, with their workflows
    submit(cli_db, cli_settings, [stepchain_doc(fixtures_dir, "r_new", priority=10)])
    with cli_db.session() as s:
        for name, dag_status, done in (("r_active", DAGStatus.running, 1), ("r_done", DAGStatus.completed, 2),
                                       ("r_held", DAGStatus.partial, 1)):
            _, wf = _to(s, name, RequestStatus.planning, RequestStatus.active)
            transition_workflow(wf, WorkflowStatus.planning)
            transition_workflow(wf, WorkflowStatus.active)
            _dag(s, wf, tmp_path / "submit" / name, dag_status, done)
        _, wf = _to(s, "r_done", RequestStatus.completed)
        transition_workflow(wf, WorkflowStatus.completed)
        _, wf = _to(s, "r_held", RequestStatus.partial, RequestStatus.held)
        transition_workflow(wf, WorkflowStatus.partial)
        s.add(SiteBanRow(site="T2_XX_SiteA", reason="60% infrastructure failures", failure_data={"failed": 6}))
        s.add(SiteBanRow(site="T1_XX_SiteB", reason="old", expires_at=utcnow() - timedelta(days=1)))
    write_running_dag(tmp_path / "submit" / "r_active", "T2_XX_SiteA")
    return State(cli_settings, cli_db, tmp_path)


@dataclass
class Server:
    url: str
    tokens: dict[str, str]
    engine: RecordingEngine

    def args(self, who: str = "operator") -> list[str]:
        return ["--server", self.url, "--token", self.tokens[who]]


@pytest.fixture
def server(state: State) -> Iterator[Server]:
    """The REST API on the same database, served by uvicorn on 127.0.0.1 (an ephemeral port)."""
    tokens: dict[str, str] = {}
    with state.db.session() as s:
        for who, role in (("viewer", "viewer"), ("alice", "requestor"), ("operator", "operator")):
            tokens[who] = create_token(s, who, role, "test")[1]
    engine = RecordingEngine()
    app_ = create_app(state.settings, state.db, lifecycle=LifecycleManager(state.db, state.settings),
                      engine_factory=lambda: engine)
    config = uvicorn.Config(app_, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_S
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = srv.servers[0].sockets[0].getsockname()[1]
    try:
        yield Server(f"http://127.0.0.1:{port}", tokens, engine)
    finally:
        srv.should_exit = True
        thread.join(SERVER_START_S)
