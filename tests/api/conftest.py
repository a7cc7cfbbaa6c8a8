"""API test fixtures: an app on the ``db`` fixture (SQLite and PostgreSQL), tokens for every role, and
a recording engine (a fake, so it lives under tests/)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from wms2.api import create_app
from wms2.api.auth import create_token
from wms2.config import LocalSite, Settings
from wms2.core.lifecycle import LifecycleManager
from wms2.db.session import Database
from wms2.engines.base import DagExitInfo, DagJobInfo, DagJobState, Engine, SubmitOptions, SubmitResult

PROXY = "10.0.0.5"
DN_OPERATOR = "/DC=ch/DC=cern/OU=Users/CN=oper/CN=123/CN=Olga Operator"
DN_VIEWER = "/DC=ch/DC=cern/OU=Users/CN=viewer/CN=456/CN=Victor Viewer"


@dataclass
class RecordingEngine(Engine):
    name: str = "recording"
    removed: list[tuple[int, str, str]] = field(default_factory=list)
    held: list[tuple[int, str]] = field(default_factory=list)
    released: list[int] = field(default_factory=list)

    def submit_dag(self, dag_file: Path, options: SubmitOptions) -> SubmitResult:
        raise AssertionError("the API never submits")

    def query(self, cluster_id: int, schedd: str) -> DagJobInfo:
        return DagJobInfo(cluster_id, schedd, DagJobState.running, {})

    def remove(self, cluster_id: int, schedd: str, reason: str) -> None:
        self.removed.append((cluster_id, schedd, reason))

    def hold(self, cluster_id: int, schedd: str, reason: str) -> None:
        self.held.append((cluster_id, reason))

    def release(self, cluster_id: int, schedd: str) -> None:
        self.released.append(cluster_id)

    def ping(self, schedd: str) -> bool:
        return True

    def exit_info(self, cluster_id: int, schedd: str) -> DagExitInfo:
        return DagExitInfo(cluster_id, schedd, 0, False, "")


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    s = settings.model_copy(deep=True)
    s.engine.local_sites = [LocalSite(name="T2_XX_Alpha", cores=4, memory_mb=8000),
                            LocalSite(name="T1_XX_Beta", cores=2, memory_mb=4000)]
    s.api.trusted_proxies = [PROXY]
    s.api.dn_roles = {DN_OPERATOR: "operator", DN_VIEWER: "viewer"}
    s.api.aggregate_cache_seconds = 0.0  # every read sees the lifecycle's last change
    # No real ReqMgr2 from tests: an import by name meets a closed loopback port at once (502).
    s.reqmgr2.url = "http://127.0.0.1:9/reqmgr2/data"
    s.reqmgr2.retries = 0
    return s


@dataclass
class Api:
    client: TestClient
    db: Database
    settings: Settings
    engine: RecordingEngine
    lifecycle: LifecycleManager
    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, path: str, who: str = "viewer", **kw: Any) -> Any:
        return self.client.get(f"/api/v1{path}", headers=self.headers(who), **kw)

    def call(self, method: str, path: str, who: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.request(method, f"/api/v1{path}", headers={**self.headers(who), **(headers or {})},
                                   **kw)

    def cycle(self) -> None:
        self.lifecycle.run_cycle()


@pytest.fixture
def api(db: Database, api_settings: Settings) -> Iterator[Api]:
    tokens: dict[str, str] = {}
    with db.session() as session:
        for who, role in (("viewer", "viewer"), ("alice", "requestor"), ("bob", "requestor"),
                          ("operator", "operator")):
            tokens[who] = create_token(session, who, role, "test")[1]
    engine = RecordingEngine()
    lifecycle = LifecycleManager(db, api_settings)
    app = create_app(api_settings, db, lifecycle=lifecycle, engine_factory=lambda: engine)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        yield Api(client, db, api_settings, engine, lifecycle, tokens)
