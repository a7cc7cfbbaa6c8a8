"""Workflows, DAGs (with live nodes), admission, sites and bans, lifecycle, status, metrics."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.api.conftest import Api
from tests.api.helpers import doc, make_active
from tests.dag_files import write_running_dag
from wms2.config import Settings
from wms2.db.base import utcnow
from wms2.db.session import Database
from wms2.db.tables import DagRow, ProcessingBlockRow, SiteBanRow, WorkflowRow


def _queued(api: Api, fixtures_dir: Path, *names: str, priority: int = 100000) -> None:
    for name in names:
        r = api.call("POST", "/requests", "alice", json=doc(fixtures_dir, name, RequestPriority=priority))
        assert r.status_code == 201, r.text
    api.cycle()


def test_workflows_and_progress(api: Api, fixtures_dir: Path, tmp_path: Path) -> None:
    _queued(api, fixtures_dir, "r_w")
    wf_id, dag_id = make_active(api, "r_w", tmp_path / "sub")
    with api.db.session() as s:
        s.get(DagRow, dag_id).submitted_at = utcnow() - timedelta(hours=2)
        wf = s.get(WorkflowRow, wf_id)
        s.add(ProcessingBlockRow(workflow_id=wf_id, dag_id=dag_id, round=0, block_index=0, dataset="/A/B-v1/GEN",
                                 total_work_units=2, completed_work_units=["mg_000001"], status="open"))
        total = int(s.get(WorkflowRow, wf_id).request.spec["splitting"]["request_num_events"])
        wf.events_produced = total // 4
    page = api.get("/workflows", params={"status": "active"}).json()
    assert page["total"] == 1 and page["items"][0]["request_name"] == "r_w"
    assert api.get("/workflows", params={"request": "zzz"}).json()["total"] == 0
    assert api.get(f"/workflows/{wf_id}").json()["status"] == "active"
    st = api.get(f"/workflows/{wf_id}/status").json()
    assert st["progress_percent"] == 25.0
    assert abs(st["throughput_per_hour"] - 12.5) < 0.1  # 25 % in 2 h
    assert abs(st["eta_seconds"] - 6 * 3600) < 120  # 75 % left at 12.5 %/h
    assert st["rounds"][0]["dag_id"] == dag_id and st["blocks"][0]["work_units_done"] == 1
    assert st["current_dag"]["dag_id"] == dag_id
    assert api.get("/workflows/999").status_code == 404
    assert api.get("/workflows/0").status_code == 422


def test_dags_and_live_nodes(api: Api, fixtures_dir: Path, tmp_path: Path) -> None:
    _queued(api, fixtures_dir, "r_d")
    submit = tmp_path / "sub"
    wf_id, dag_id = make_active(api, "r_d", submit)
    assert api.get("/dags", params={"workflow_id": wf_id}).json()["items"][0]["id"] == dag_id
    assert api.get("/dags", params={"status": "completed"}).json()["total"] == 0
    detail = api.get(f"/dags/{dag_id}").json()
    assert detail["submit_dir"] == str(submit) and detail["status"] == "submitted"
    empty = api.get(f"/dags/{dag_id}/nodes").json()
    assert empty["available"] is False and empty["work_units"] == []
    write_running_dag(submit, "T2_XX_Alpha")
    nodes = api.get(f"/dags/{dag_id}/nodes").json()
    assert nodes["available"] and nodes["total"] == 2 and nodes["counts"]["NodesDone"] == 1
    wu = nodes["work_units"][0]
    assert (wu["node"], wu["status"], wu["site"]) == ("mg_000000", "submitted", "T2_XX_Alpha")
    by_name = {n["node"]: n for n in wu["nodes"]}
    assert by_name["proc_000001"]["exit_code"] == 50660 and by_name["proc_000001"]["retries"] == 2
    assert by_name["proc_000002"]["exit_code"] == 8001 and by_name["proc_000002"]["status"] == "error"
    assert by_name["merge"]["role"] == "Merge" and by_name["landing"]["exit_code"] is None
    one = api.get(f"/dags/{dag_id}/nodes", params={"work_unit": "mg_000001"}).json()
    assert one["total"] == 1 and one["work_units"][0]["nodes"] == []
    paged = api.get(f"/dags/{dag_id}/nodes", params={"limit": 1, "offset": 1}).json()
    assert [w["node"] for w in paged["work_units"]] == ["mg_000001"]
    assert api.get("/dags/12345").status_code == 404
    assert api.get(f"/dags/{dag_id}/logs").json()["available"] is False
    (submit / "workflow.dag.dagman.out").write_text("".join(f"line {i}\n" for i in range(100_000)))
    logs = api.get(f"/dags/{dag_id}/logs", params={"lines": 3}).json()
    assert logs["available"] and logs["lines"] == ["line 99997", "line 99998", "line 99999"]
    assert api.get(f"/dags/{dag_id}/logs", params={"work_unit": "../etc"}).status_code == 422


def test_admission_queue_and_config(api: Api, fixtures_dir: Path) -> None:
    _queued(api, fixtures_dir, "r_lo", priority=1000)
    _queued(api, fixtures_dir, "r_hi", priority=200000)
    q = api.get("/admission/queue").json()
    assert [i["name"] for i in q["items"]] == ["r_hi", "r_lo"] and q["queue_depth"] == 2
    assert q["max_active_dags"] == 300 and q["active_dags"] == 0 and q["items"][0]["position"] == 1
    denied = api.call("PATCH", "/admission/config", "alice", json={"max_active_dags": 5, "reason": "x"})
    assert denied.status_code == 403
    r = api.call("PATCH", "/admission/config", "operator", json={"max_active_dags": 5, "reason": "schedd upgrade"})
    assert r.status_code == 200 and r.json() == {"max_active_dags": 5, "source": "override",
                                                  "updated_by": "operator", "reason": "schedd upgrade"}
    assert api.get("/admission/queue").json()["max_active_dags"] == 5
    assert api.get("/admission/config").json()["source"] == "override"
    bad = api.call("PATCH", "/admission/config", "operator", json={"max_active_dags": -1, "reason": "x"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.max_active_dags"


def test_sites_drain_enable_patch(api: Api) -> None:
    sites = api.get("/sites").json()
    assert [s["name"] for s in sites["items"]] == ["T1_XX_Beta", "T2_XX_Alpha"]
    assert all(s["status"] == "enabled" for s in sites["items"])
    assert api.call("POST", "/sites/T2_XX_Alpha/drain", "alice", json={"reason": "x"}).status_code == 403
    r = api.call("POST", "/sites/T2_XX_Alpha/drain", "operator", json={"reason": "storage downtime"})
    assert r.status_code == 200 and r.json()["status"] == "draining" and r.json()["updated_by"] == "operator"
    again = api.call("POST", "/sites/T2_XX_Alpha/drain", "operator", json={"reason": "x"})
    assert again.status_code == 409
    assert api.get("/sites", params={"status": "draining"}).json()["total"] == 1
    r = api.call("POST", "/sites/T2_XX_Alpha/enable", "operator", json={"reason": "back"})
    assert r.json()["status"] == "enabled" and r.json()["reason"] == "back"
    r = api.call("PATCH", "/sites/T1_XX_Beta", "operator", json={"status": "maintenance", "total_slots": 7,
                                                                 "reason": "tape"})
    assert r.json()["status"] == "maintenance" and r.json()["total_slots"] == 7
    assert api.get("/sites/T2_XX_Gamma").status_code == 404
    assert api.get("/sites/not-a-site").status_code == 422
    assert api.call("POST", "/sites/T2_XX_Alpha/drain", "operator", json={}).status_code == 422


def test_bans_list_and_lift(api: Api) -> None:
    with api.db.session() as s:
        s.add(SiteBanRow(site="T2_XX_Alpha", reason="60% infrastructure failures", failure_data={"failed": 6}))
        s.add(SiteBanRow(site="T1_XX_Beta", reason="old", expires_at=utcnow() - timedelta(days=1)))
    bans = api.get("/sites/bans").json()
    assert bans["total"] == 1 and bans["items"][0]["site"] == "T2_XX_Alpha" and bans["items"][0]["active"]
    assert api.get("/sites/bans", params={"active": False}).json()["total"] == 2
    ban_id = bans["items"][0]["id"]
    assert api.get("/sites/T2_XX_Alpha").json()["active_bans"] == 1
    assert api.call("POST", f"/sites/bans/{ban_id}/lift", "bob", json={"reason": "x"}).status_code == 403
    r = api.call("POST", f"/sites/bans/{ban_id}/lift", "operator", json={"reason": "site fixed"})
    assert r.status_code == 200 and r.json()["removed_by"] == "operator" and not r.json()["active"]
    assert api.call("POST", f"/sites/bans/{ban_id}/lift", "operator", json={"reason": "x"}).status_code == 409
    assert api.call("POST", "/sites/bans/999/lift", "operator", json={"reason": "x"}).status_code == 404
    assert api.get("/sites/bans").json()["total"] == 0


def test_lifecycle_status_and_service_status(api: Api, fixtures_dir: Path) -> None:
    assert api.get("/lifecycle/status").json()["last_cycle"] is None
    _queued(api, fixtures_dir, "r_s")
    lc = api.get("/lifecycle/status").json()
    assert lc["cycles_recorded"] == 1 and lc["last_cycle"]["requests_evaluated"] == 1
    assert lc["running_in_process"] is True and lc["errors_recorded"] == 0
    st = api.get("/status").json()
    assert st["requests"]["queued"] == 1 and st["queue_depth"] == 1 and st["role"] == "viewer"


def test_metrics(api: Api, fixtures_dir: Path, tmp_path: Path) -> None:
    _queued(api, fixtures_dir, "r_m1", "r_m2")
    make_active(api, "r_m2", tmp_path / "sub")
    assert api.client.get("/api/v1/metrics").status_code == 401
    text = api.get("/metrics").text
    assert 'wms2_requests{status="queued"} 1.0' in text and 'wms2_requests{status="active"} 1.0' in text
    assert "wms2_admission_queue_depth 1.0" in text and "wms2_admission_active_dags 1.0" in text
    assert 'wms2_dag_progress_ratio{dag_id="1",request="r_m2"} 0.5' in text
    assert "wms2_lifecycle_last_cycle_duration_seconds" in text and 'wms2_blocks{status="open"} 0.0' in text
    assert 'wms2_api_request_duration_seconds_count{method="POST",route="/api/v1/requests",status="201"} 2.0' in text


def test_aggregate_cache_expires_and_clears() -> None:
    from wms2.api.cache import TtlCache

    now = [0.0]
    cache = TtlCache(1.0, clock=lambda: now[0])
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get("k", compute) == 1 and cache.get("k", compute) == 1
    now[0] = 1.5
    assert cache.get("k", compute) == 2
    cache.clear()
    assert cache.get("k", compute) == 3
    assert TtlCache(0.0).get("k", compute) == 4  # disabled


def _long_cache_client(db: Database, api_settings: Settings) -> tuple[Any, dict[str, str], Settings]:
    """An app whose caches never expire on their own, an operator's headers, and its settings."""
    from fastapi.testclient import TestClient

    from wms2.api import create_app
    from wms2.api.auth import create_token

    cached = api_settings.model_copy(deep=True)
    cached.api.aggregate_cache_seconds = 3600.0
    with db.session() as s:
        token = create_token(s, "op", "operator", "test")[1]
    return TestClient(create_app(cached, db)), {"Authorization": f"Bearer {token}"}, cached


def test_api_writes_clear_cached_aggregates(db: Database, api_settings: Settings, fixtures_dir: Path) -> None:
    client, headers, _ = _long_cache_client(db, api_settings)
    with client as c:
        assert c.get("/api/v1/status", headers=headers).json()["requests"]["submitted"] == 0
        assert c.get("/api/v1/admission/queue", headers=headers).json()["max_active_dags"] == 300
        assert c.post("/api/v1/requests", headers=headers, json=doc(fixtures_dir, "r_c")).status_code == 201
        assert c.patch("/api/v1/admission/config", headers=headers,
                       json={"max_active_dags": 7, "reason": "x"}).status_code == 200
        assert c.get("/api/v1/status", headers=headers).json()["requests"]["submitted"] == 1
        assert c.get("/api/v1/admission/queue", headers=headers).json()["max_active_dags"] == 7


def test_list_pages_are_cached_until_an_api_write(db: Database, api_settings: Settings, fixtures_dir: Path) -> None:
    """List pages are reused for api.aggregate_cache_seconds (dashboards polling); a change made outside
    the API (the lifecycle) shows up after that, an API write at once."""
    from wms2.core.workflow_manager import submit_documents

    client, headers, cached = _long_cache_client(db, api_settings)
    with client as c:
        assert c.get("/api/v1/requests", headers=headers).json()["total"] == 0
        with db.session() as s:  # behind the API's back
            submit_documents(s, [("", doc(fixtures_dir, "r_outside"))], cached, by="lifecycle")
        assert c.get("/api/v1/requests", headers=headers).json()["total"] == 0  # the cached page
        assert c.get("/api/v1/requests?limit=5", headers=headers).json()["total"] == 1  # another page: fresh
        assert c.post("/api/v1/requests", headers=headers, json=doc(fixtures_dir, "r_api")).status_code == 201
        assert c.get("/api/v1/requests", headers=headers).json()["total"] == 2
