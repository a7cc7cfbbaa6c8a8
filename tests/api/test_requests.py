"""``/requests``: submit, list with filters and paging, show, patch, abort; role checks."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from tests.api.conftest import Api
from tests.api.helpers import doc, make_active
from wms2.db.tables import DagRow, RequestRow


def _submit(api: Api, fixtures_dir: Path, name: str, who: str = "alice", **extra: object) -> None:
    r = api.call("POST", "/requests", who, json=doc(fixtures_dir, name, **extra))
    assert r.status_code == 201, r.text


def test_unauthenticated_is_401_but_health_is_open(api: Api) -> None:
    r = api.client.get("/api/v1/requests")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "authentication required" in r.json()["detail"]
    assert api.client.get("/api/v1/health").json() == {"status": "ok"}
    bad = api.client.get("/api/v1/requests", headers={"Authorization": "Bearer wms2_nope"})
    assert bad.status_code == 401


def test_submit_then_resubmit_is_idempotent(api: Api, fixtures_dir: Path) -> None:
    body = doc(fixtures_dir, "r_sub")
    r = api.call("POST", "/requests", "alice", json=body)
    assert r.status_code == 201 and r.json() == {"name": "r_sub", "created": True, "status": "submitted"}
    again = api.call("POST", "/requests", "alice", json=body)
    assert again.status_code == 200 and again.json()["created"] is False
    detail = api.get("/requests/r_sub").json()
    assert detail["requestor"] == "alice"
    assert detail["status_transitions"][0]["by"] == "alice" and detail["status_transitions"][0]["from"] is None


def test_submit_invalid_document_names_fields(api: Api, fixtures_dir: Path) -> None:
    r = api.call("POST", "/requests", "alice", json=doc(fixtures_dir, "bad name!"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "RequestName"
    r = api.call("POST", "/requests", "alice", json=doc(fixtures_dir, "r_mem", Memory=99999))
    assert r.status_code == 422 and "Memory" in r.json()["errors"][0]["field"]
    with api.db.session() as s:
        assert s.scalar(select(RequestRow)) is None
    assert api.call("POST", "/requests", "alice", content=b"{not json",
                    headers={"content-type": "application/json"}).status_code == 422


def test_submit_roles(api: Api, fixtures_dir: Path) -> None:
    assert api.call("POST", "/requests", "viewer", json=doc(fixtures_dir, "r_v")).status_code == 403
    r = api.call("POST", "/requests", "alice", json=doc(fixtures_dir, "r_x", Requestor="bob"))
    assert r.status_code == 403 and "Requestor" in r.json()["detail"]
    ok = api.call("POST", "/requests", "operator", json=doc(fixtures_dir, "r_y", Requestor="bob"))
    assert ok.status_code == 201
    assert api.get("/requests/r_y").json()["requestor"] == "bob"


def test_list_filters_and_paging(api: Api, fixtures_dir: Path) -> None:
    for i in range(5):
        _submit(api, fixtures_dir, f"r_{i}", who="alice" if i < 3 else "bob",
                Campaign="CampA" if i % 2 == 0 else "CampB")
    api.cycle()  # submitted -> queued
    page = api.get("/requests", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 5 and page["limit"] == 2 and [r["name"] for r in page["items"]] == ["r_3", "r_2"]
    assert api.get("/requests", params={"requestor": "bob"}).json()["total"] == 2
    assert api.get("/requests", params={"campaign": "CampA"}).json()["total"] == 3
    assert api.get("/requests", params={"status": "queued"}).json()["total"] == 5
    assert api.get("/requests", params={"status": "active"}).json()["total"] == 0
    bad = api.get("/requests", params={"status": "bogus"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.status"
    big = api.get("/requests", params={"limit": 100000})
    assert big.status_code == 422 and big.json()["errors"][0]["field"] == "query.limit"


def test_get_unknown_is_404(api: Api) -> None:
    r = api.get("/requests/nope")
    assert r.status_code == 404 and r.json()["detail"] == "request nope not found"


def test_patch_priority_and_steps(api: Api, fixtures_dir: Path) -> None:
    _submit(api, fixtures_dir, "r_p")
    api.cycle()
    r = api.call("PATCH", "/requests/r_p", "alice", json={"priority": 150000, "reason": "paper deadline"})
    assert r.status_code == 200 and r.json()["priority"] == 150000
    last = r.json()["status_transitions"][-1]
    assert last["from"] == last["to"] == "queued" and last["by"] == "alice"
    assert "100000 -> 150000" in last["reason"] and "paper deadline" in last["reason"]
    steps = [{"fraction": 0.5, "priority": 90000}, {"fraction": 0.8, "priority": 80000}]
    r = api.call("PATCH", "/requests/r_p", "operator", json={"production_steps": steps, "reason": "fair share"})
    assert r.status_code == 200 and r.json()["production_steps"] == steps
    bad = api.call("PATCH", "/requests/r_p", "alice", json={"production_steps": steps[::-1], "reason": "x"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "production_steps"
    above = api.call("PATCH", "/requests/r_p", "alice",
                     json={"production_steps": [{"fraction": 0.5, "priority": 200000}], "reason": "x"})
    assert above.status_code == 422 and "below the request priority" in above.json()["detail"]
    assert api.call("PATCH", "/requests/r_p", "alice", json={"priority": 5}).status_code == 422  # no reason
    assert api.call("PATCH", "/requests/r_p", "alice", json={"reason": "nothing"}).status_code == 422


def test_requestor_cannot_touch_anothers_request(api: Api, fixtures_dir: Path) -> None:
    _submit(api, fixtures_dir, "r_alice")
    r = api.call("PATCH", "/requests/r_alice", "bob", json={"priority": 1, "reason": "mine now"})
    assert r.status_code == 403 and "belongs to alice" in r.json()["detail"]
    assert api.call("DELETE", "/requests/r_alice", "bob", params={"reason": "x"}).status_code == 403
    assert api.call("DELETE", "/requests/r_alice", "viewer", params={"reason": "x"}).status_code == 403
    assert api.get("/requests/r_alice").json()["priority"] == 100000


def test_abort_queued_then_conflict(api: Api, fixtures_dir: Path) -> None:
    _submit(api, fixtures_dir, "r_ab")
    api.cycle()
    r = api.call("DELETE", "/requests/r_ab", "alice", params={"reason": "wrong conditions"})
    assert r.status_code == 200 and r.json()["status"] == "aborted"
    detail = api.get("/requests/r_ab").json()
    assert detail["workflow"]["status"] == "aborted"
    last = detail["status_transitions"][-1]
    assert (last["from"], last["to"], last["by"], last["reason"]) == ("queued", "aborted", "alice", "wrong conditions")
    again = api.call("DELETE", "/requests/r_ab", "alice", params={"reason": "again"})
    assert again.status_code == 409 and "terminal" in again.json()["detail"]
    assert api.call("PATCH", "/requests/r_ab", "alice", json={"priority": 1, "reason": "x"}).status_code == 409
    assert api.call("DELETE", "/requests/r_ab", "alice").status_code == 422  # reason is required


def test_abort_active_removes_live_dag_through_engine(api: Api, fixtures_dir: Path, tmp_path: Path) -> None:
    _submit(api, fixtures_dir, "r_live")
    api.cycle()
    _, dag_id = make_active(api, "r_live", tmp_path / "sub")
    r = api.call("DELETE", "/requests/r_live", "operator", params={"reason": "bad release"})
    assert r.status_code == 200
    assert api.engine.removed == [(4242, "local", "aborted by operator: bad release")]
    with api.db.session() as s:
        assert s.get(DagRow, dag_id).status == "removed"


def test_abort_while_planning_is_409(api: Api, fixtures_dir: Path) -> None:
    _submit(api, fixtures_dir, "r_plan")
    api.cycle()
    with api.db.session() as s:
        from wms2.core.transitions import transition
        from wms2.domain.enums import RequestStatus

        transition(s.scalar(select(RequestRow)), RequestStatus.planning, "wms2", "test")
    r = api.call("DELETE", "/requests/r_plan", "operator", params={"reason": "x"})
    assert r.status_code == 409 and "being planned" in r.json()["detail"]
