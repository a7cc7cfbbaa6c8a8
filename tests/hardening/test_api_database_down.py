"""Issue 12 defect 5 (API part): with the database unreachable every API route answers 503 with a clear
message and Retry-After (it used to be 500 "internal error (OperationalError)")."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from wms2.api import create_app
from wms2.config import Settings
from wms2.db.session import Database

from .hostile import mc_base

PROXY = "10.0.0.5"
DN = "/DC=ch/DC=cern/CN=hardening operator"
# Answered without the database (or by /health's own 503, which helper code owns).
NO_DATABASE = {"/api/v1/health", "/api/v1/docs", "/api/v1/openapi.json"}
UNREACHABLE = {
    "postgresql": "postgresql://wms2@127.0.0.1:1/none",  # nothing listens on port 1
    "sqlite": "sqlite:////nonexistent-dir-for-wms2-tests/wms2.db",  # the file cannot be opened
}


@pytest.fixture(params=sorted(UNREACHABLE))
def client(request: pytest.FixtureRequest, settings: Settings) -> Iterator[TestClient]:
    s = settings.model_copy(deep=True)
    s.api.trusted_proxies = [PROXY]  # a proxied DN authenticates without the database
    s.api.dn_roles = {DN: "operator"}
    s.api.aggregate_cache_seconds = 0.0
    s.api.database_retry_after_s = 17
    db = Database(UNREACHABLE[request.param])
    app = create_app(s, db)
    with TestClient(app, client=(PROXY, 50000), raise_server_exceptions=False) as c:
        c.headers["X-SSL-Client-S-DN"] = DN
        yield c
    db.dispose()


def _concrete(path: str) -> str:
    value = "T2_XX_SiteA" if path.startswith("/api/v1/sites/{") else "r1"
    return re.sub(r"\{[^}]+\}", lambda m: value if "name" in m.group() else "1", path)


def _unavailable(r: object) -> str | None:
    status = getattr(r, "status_code", None)
    headers = getattr(r, "headers", {})
    if status != 503 or headers.get("retry-after") != "17":
        return f"HTTP {status}, Retry-After {headers.get('retry-after')}: {getattr(r, 'text', '')[:120]}"
    if "database is unavailable" not in r.json()["detail"]:  # type: ignore[attr-defined]
        return f"unclear message: {r.json()['detail']}"  # type: ignore[attr-defined]
    return None


def test_every_read_route_answers_503_with_retry_after(client: TestClient) -> None:
    paths = [p for p, ops in client.app.openapi()["paths"].items() if "get" in ops]  # type: ignore[attr-defined]
    assert len(paths) > 15
    problems = {}
    for path in paths:
        if path in NO_DATABASE:
            continue
        problem = _unavailable(client.get(_concrete(path)))
        if problem:
            problems[path] = problem
    assert problems == {}


def test_writes_answer_503_too(client: TestClient, fixtures_dir: Path) -> None:
    calls = [
        ("POST", "/api/v1/requests", {"json": mc_base()}),
        ("PATCH", "/api/v1/requests/r1", {"json": {"priority": 5, "reason": "why"}}),
        ("POST", "/api/v1/requests/r1/stop", {"json": {"reason": "why"}}),
        ("DELETE", "/api/v1/requests/r1", {"params": {"reason": "why"}}),
        ("PATCH", "/api/v1/admission/config", {"json": {"max_active_dags": 3, "reason": "why"}}),
    ]
    problems = {f"{m} {p}": _unavailable(client.request(m, p, **kw)) for m, p, kw in calls}
    assert {k: v for k, v in problems.items() if v} == {}


def test_a_bearer_token_lookup_answers_503(client: TestClient) -> None:
    """Authentication itself needs the database for API tokens: still 503, not 500."""
    r = client.get("/api/v1/requests", headers={"Authorization": "Bearer wms2_not-a-cached-token",
                                                "X-SSL-Client-S-DN": ""})
    assert _unavailable(r) is None
