"""Login, sessions, CSRF rules, security headers and the dashboard endpoints, in-process (SQLite and
PostgreSQL through the shared ``db`` fixture); the browser tests cover the pages themselves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.web.seed import SITES, tiny_generation, write_grid_dag
from wms2.api import create_app
from wms2.api.auth import SESSION_COOKIE, SessionStore, create_token
from wms2.config import LocalSite, Settings
from wms2.core.transitions import SYSTEM, transition
from wms2.core.workflow_manager import submit_documents
from wms2.db.session import Database
from wms2.db.tables import DagRow, RequestRow, WorkflowRow
from wms2.domain.enums import DAGStatus, RequestStatus

PROXY = "10.0.0.5"
DN = "/DC=ch/DC=cern/OU=Users/CN=oper/CN=1/CN=Olga Operator"


@pytest.fixture
def web(db: Database, settings: Settings, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Database]]:
    s = settings.model_copy(deep=True)
    s.engine.local_sites = [LocalSite(name=SITES[0], cores=4, memory_mb=8000)]
    s.api.trusted_proxies = [PROXY]
    s.api.dn_roles = {DN: "operator"}
    s.api.aggregate_cache_seconds = 0.0
    tokens = {}
    with db.session() as session:
        for role in ("viewer", "operator"):
            tokens[role] = create_token(session, role, role, "test")[1]
        submit_documents(session, [("", tiny_generation("gen_a", 400, campaign="CampA")),
                                   ("", tiny_generation("gen_b", 400, campaign="Camp%B"))], s, "test")
    with TestClient(create_app(s, db), client=("127.0.0.1", 50000)) as client:
        yield client, tokens, db


def _login(client: TestClient, token: str) -> dict[str, Any]:
    page = client.get("/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert nonce is not None
    answer = client.post("/login", data={"csrf": nonce.group(1), "token": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
    me: dict[str, Any] = client.get("/ui/session").json()
    return me


def test_root_without_session_redirects_to_login(web: Any) -> None:
    client, _, _ = web
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    login = client.get("/login")
    assert login.status_code == 200 and "default-src 'none'" in login.headers["content-security-policy"]
    assert login.headers["x-frame-options"] == "DENY" and login.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in client.get("/api/v1/health").headers  # Swagger UI keeps working


def test_login_refuses_bad_token_and_missing_nonce(web: Any) -> None:
    client, tokens, _ = web
    page = client.get("/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    bad = client.post("/login", data={"csrf": nonce, "token": "wms2_<script>nope"}, follow_redirects=False)
    assert bad.status_code == 401 and SESSION_COOKIE not in bad.headers.get("set-cookie", "")
    assert "<script>nope" not in bad.text  # the message never echoes the token
    client.cookies.clear()
    forged = client.post("/login", data={"csrf": "x", "token": tokens["operator"]}, follow_redirects=False)
    assert forged.status_code == 403


def test_session_cookie_csrf_and_logout(web: Any) -> None:
    client, tokens, _ = web
    me = _login(client, tokens["operator"])
    assert me["role"] == "operator" and me["name"] == "operator" and me["csrf"]
    assert client.get("/", follow_redirects=False).status_code == 200
    body = {"reason": "raise it", "priority": 7}
    assert client.patch("/api/v1/requests/gen_a", json=body).status_code == 403  # no token
    assert client.patch("/api/v1/requests/gen_a", json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    ok = client.patch("/api/v1/requests/gen_a", json=body, headers={"X-CSRF-Token": me["csrf"]})
    assert ok.status_code == 200 and ok.json()["priority"] == 7
    assert ok.json()["status_transitions"][-1]["by"] == "operator"
    assert client.post("/logout", headers={"X-CSRF-Token": me["csrf"]}).status_code == 204
    client.cookies.clear()
    assert client.get("/ui/session").status_code == 401


def test_bearer_needs_no_csrf_and_dn_from_a_browser_does(web: Any) -> None:
    client, tokens, _ = web
    body = {"reason": "bearer", "priority": 9}
    assert client.patch("/api/v1/requests/gen_a", json=body,
                        headers={"Authorization": f"Bearer {tokens['operator']}"}).status_code == 200
    dn_client = TestClient(client.app, client=(PROXY, 40000))
    headers = {"X-SSL-Client-S-DN": DN}
    assert dn_client.patch("/api/v1/requests/gen_a", json=body, headers=headers).status_code == 200  # a script
    browser = {**headers, "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert dn_client.patch("/api/v1/requests/gen_a", json=body, headers=browser).status_code == 403
    csrf = dn_client.get("/ui/session", headers=headers).json()["csrf"]
    signed = {**browser, "X-CSRF-Token": csrf}
    assert dn_client.patch("/api/v1/requests/gen_a", json=body, headers=signed).status_code == 200
    spoofed = client.get("/ui/session", headers=headers)  # DN header from a non-proxy peer: ignored
    assert spoofed.status_code == 401


def test_viewer_cannot_act_even_with_csrf(web: Any) -> None:
    client, tokens, _ = web
    me = _login(client, tokens["viewer"])
    r = client.post("/api/v1/requests/gen_a/fail", json={"reason": "x"}, headers={"X-CSRF-Token": me["csrf"]})
    assert r.status_code == 403


def test_static_files_are_packaged_and_closed(web: Any) -> None:
    client, _, _ = web
    js = client.get("/static/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert client.get("/static/app.js", headers={"If-None-Match": js.headers["etag"]}).status_code == 304
    chart = client.get("/static/chart.umd.min.js")
    assert chart.status_code == 200 and b"Chart.js v4.6.1" in chart.content
    assert client.get("/static/..%2Fsecurity.py").status_code == 404
    assert client.get("/static/nothing.js").status_code == 404
    for name in ("app.js", "lib.js", "overview.js", "request.js", "dag.js", "sites.js"):
        code = "\n".join(line for line in client.get(f"/static/{name}").text.splitlines()
                         if not line.lstrip().startswith("//"))
        assert "innerHTML" not in code and "insertAdjacentHTML" not in code, name


def test_dashboard_rows_search_and_progress(web: Any) -> None:
    client, tokens, db = web
    auth = {"Authorization": f"Bearer {tokens['viewer']}"}
    rows = client.get("/api/v1/dashboard/requests", headers=auth).json()
    assert [r["name"] for r in rows["items"]] == ["gen_b", "gen_a"] and rows["total"] == 2
    assert rows["items"][0]["total"] == 0  # no workflow yet
    # The search is a substring match with LIKE wildcards escaped: "%" matches only a literal "%".
    found = client.get("/api/v1/dashboard/requests", params={"q": "camp%"}, headers=auth).json()
    assert [r["name"] for r in found["items"]] == ["gen_b"]
    assert client.get("/api/v1/dashboard/requests", params={"q": "GEN_"}, headers=auth).json()["total"] == 2
    with db.session() as s:
        row = s.scalar(select(RequestRow).where(RequestRow.name == "gen_a"))
        transition(row, RequestStatus.queued, SYSTEM, "test")
    status = client.get("/api/v1/dashboard/requests", params={"status": "queued"}, headers=auth).json()
    assert [r["name"] for r in status["items"]] == ["gen_a"]
    overview = client.get("/api/v1/dashboard/overview", headers=auth).json()
    assert overview["counts"]["queued"] == 1 and overview["counts"]["submitted"] == 1 and overview["total"] == 2
    assert overview["queue"]["items"][0]["name"] == "gen_a"


def test_dag_grid_reads_the_outer_status_file(web: Any, tmp_path: Path) -> None:
    client, tokens, db = web
    submit_dir = tmp_path / "dag"
    write_grid_dag(submit_dir, 40)
    with db.session() as s:
        row = s.scalar(select(RequestRow).where(RequestRow.name == "gen_a"))
        transition(row, RequestStatus.queued, SYSTEM, "test")
        wf = WorkflowRow(request_id=row.id, request_name=row.name, status="active")
        s.add(wf)
        s.flush()
        dag = DagRow(workflow_id=wf.id, round=0, dag_file=str(submit_dir / "workflow.dag"), submit_dir=str(submit_dir),
                     status=DAGStatus.running, total_work_units=40)
        s.add(dag)
        s.flush()
        wf.current_dag_id = dag.id
        dag_id = dag.id
    auth = {"Authorization": f"Bearer {tokens['viewer']}"}
    grid = client.get(f"/api/v1/dashboard/dags/{dag_id}/grid", headers=auth).json()
    assert grid["available"] and grid["current"] and len(grid["work_units"]) == 40
    assert grid["counts"] == {"done": 20, "submitted": 10, "error": 1, "futile": 1, "ready": 7, "not_ready": 1}
    assert grid["work_units"][3] == {"node": "mg_000003", "status": 5, "retries": 1}
    timeline = client.get("/api/v1/dashboard/requests/gen_a/errors-over-time", headers=auth).json()
    assert sum(b["failures"] for b in timeline["buckets"]) == 4 and timeline["bucket_seconds"] == 60
    assert len(timeline["buckets"]) == 46  # 45 minutes between the first and the last failure
    assert client.get("/api/v1/dashboard/dags/999/grid", headers=auth).status_code == 404


def test_operator_ban_and_lift(web: Any) -> None:
    client, tokens, _ = web
    op = {"Authorization": f"Bearer {tokens['operator']}"}
    made = client.post("/api/v1/sites/bans", json={"site": SITES[0], "reason": "black hole", "days": 2}, headers=op)
    assert made.status_code == 201, made.text
    ban = made.json()
    assert ban["active"] and ban["failure_data"]["banned_by"] == "operator" and ban["workflow_id"] is None
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
    assert client.post("/api/v1/sites/bans", json={"site": SITES[0], "reason": "x"}, headers=viewer).status_code == 403
    unknown = {"site": "T2_XX_Nowhere", "reason": "x"}
    assert client.post("/api/v1/sites/bans", json=unknown, headers=op).status_code == 404
    assert client.post("/api/v1/sites/bans", json={"site": "bad site", "reason": "x"}, headers=op).status_code == 422
    lifted = client.post(f"/api/v1/sites/bans/{ban['id']}/lift", json={"reason": "fixed"}, headers=op).json()
    assert not lifted["active"] and lifted["removed_by"] == "operator"


def test_session_store_expires() -> None:
    now = [100.0]
    store = SessionStore(60.0, clock=lambda: now[0])
    session = store.create("wms2_secret")
    cookie = f"other=1; {SESSION_COOKIE}={session.id}"
    assert store.find(cookie) == session and store.find("other=1") is None
    now[0] += 61
    assert store.find(cookie) is None
