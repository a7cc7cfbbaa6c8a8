"""``POST /dags/{id}/remove`` and ``POST /dags/{id}/rescue`` (design §10)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from tests.api.conftest import Api
from tests.api.helpers import doc, make_active
from wms2.core.transitions import SYSTEM, transition, transition_dag, transition_workflow
from wms2.db.tables import DagHistoryRow, DagRow, RequestRow, WorkflowRow
from wms2.domain.enums import DAGStatus, RequestStatus, WorkflowStatus


def _active(api: Api, fixtures_dir: Path, tmp_path: Path, name: str) -> tuple[int, int]:
    r = api.call("POST", "/requests", "alice", json=doc(fixtures_dir, name))
    assert r.status_code == 201, r.text
    api.cycle()
    return make_active(api, name, tmp_path / name)


def _ended(api: Api, name: str, dag_id: int, held: bool) -> None:
    """What the lifecycle does when the DAG ends with failures (and, with ``held``, gives up)."""
    with api.db.session() as s:
        row = s.scalar(select(RequestRow).where(RequestRow.name == name))
        wf = s.scalar(select(WorkflowRow).where(WorkflowRow.request_id == row.id))
        dag = s.get(DagRow, dag_id)
        dag.completed_work_units = {"mg_000000": {"files": []}}
        transition_dag(s, dag, DAGStatus.partial, "1 WU failed")
        transition_workflow(wf, WorkflowStatus.partial)
        transition(row, RequestStatus.partial, SYSTEM, "1 WU failed")
        if held:
            transition(row, RequestStatus.held, SYSTEM, "too many rescues")


def test_remove_live_dag(api: Api, fixtures_dir: Path, tmp_path: Path) -> None:
    _, dag_id = _active(api, fixtures_dir, tmp_path, "r_rm")
    body = {"reason": "runaway DAG"}
    assert api.call("POST", f"/dags/{dag_id}/remove", "viewer", json=body).status_code == 403
    assert api.call("POST", f"/dags/{dag_id}/remove", "alice", json=body).status_code == 403
    assert api.call("POST", f"/dags/{dag_id}/remove", "operator", json={}).status_code == 422
    assert api.call("POST", "/dags/999/remove", "operator", json=body).status_code == 404
    r = api.call("POST", f"/dags/{dag_id}/remove", "operator", json=body)
    assert r.status_code == 200, r.text
    assert api.engine.removed == [(4242, "local", "WMS2 remove by operator: runaway DAG")]
    assert r.json()["status"] == "submitted"  # the lifecycle's monitor ends it (partial), not the API
    with api.db.session() as s:
        events = [(h.event, h.detail) for h in s.scalars(select(DagHistoryRow).where(DagHistoryRow.dag_id == dag_id))]
    assert ("remove_requested", {"by": "operator", "reason": "runaway DAG"}) in events
    audit = api.get("/requests/r_rm").json()["status_transitions"][-1]
    assert audit["by"] == "operator" and "runaway DAG" in audit["reason"]


def test_remove_refused_when_not_live(api: Api, fixtures_dir: Path, tmp_path: Path) -> None:
    _, dag_id = _active(api, fixtures_dir, tmp_path, "r_rm2")
    _ended(api, "r_rm2", dag_id, held=False)
    r = api.call("POST", f"/dags/{dag_id}/remove", "operator", json={"reason": "x"})
    assert r.status_code == 409 and "partial" in r.json()["detail"]
    assert api.engine.removed == []


def test_rescue_held_request(api: Api, fixtures_dir: Path, tmp_path: Path) -> None:
    wf_id, dag_id = _active(api, fixtures_dir, tmp_path, "r_rs")
    body = {"reason": "site fixed, retry"}
    r = api.call("POST", f"/dags/{dag_id}/rescue", "operator", json=body)
    assert r.status_code == 409 and "only a partial or stopped DAG" in r.json()["detail"]
    _ended(api, "r_rs", dag_id, held=True)
    assert api.call("POST", f"/dags/{dag_id}/rescue", "viewer", json=body).status_code == 403
    r = api.call("POST", f"/dags/{dag_id}/rescue", "operator", json=body)
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["status"] == "ready" and new["parent_dag_id"] == dag_id and new["rescue_kind"] == "operator"
    detail = api.get("/requests/r_rs").json()
    assert detail["status"] == "queued" and detail["workflow"]["current_dag_id"] == new["id"]
    assert detail["status_transitions"][-1]["by"] == "operator"
    assert api.get(f"/dags/{dag_id}").json()["status"] == "failed"
    assert api.get(f"/dags/{new['id']}").json()["completed_work_units"] == ["mg_000000"]
    with api.db.session() as s:
        assert s.get(WorkflowRow, wf_id).status == WorkflowStatus.new
    again = api.call("POST", f"/dags/{dag_id}/rescue", "operator", json=body)
    assert again.status_code == 409 and "not the current DAG" in again.json()["detail"]


def test_rescue_partial_request_goes_resubmitting(api: Api, fixtures_dir: Path, tmp_path: Path) -> None:
    _, dag_id = _active(api, fixtures_dir, tmp_path, "r_rp")
    _ended(api, "r_rp", dag_id, held=False)
    r = api.call("POST", f"/dags/{dag_id}/rescue", "operator", json={"reason": "now"})
    assert r.status_code == 200, r.text
    assert api.get("/requests/r_rp").json()["status"] == "resubmitting"
