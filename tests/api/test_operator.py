"""Operator actions exposed from ``wms2.core.operator``: stop, release, fail, restart, errors, versions,
DAG hold/release; operators only; 409 from a status where the action makes no sense."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from tests.api.conftest import Api
from tests.api.helpers import doc, make_active
from wms2.core.transitions import transition
from wms2.db.tables import RequestRow
from wms2.domain.enums import RequestStatus


def _active(api: Api, fixtures_dir: Path, tmp_path: Path, name: str) -> int:
    assert api.call("POST", "/requests", "alice", json=doc(fixtures_dir, name)).status_code == 201
    api.cycle()
    return make_active(api, name, tmp_path / name)[1]


def test_stop_is_operator_only_and_removes_dag(api: Api, fixtures_dir: Path, tmp_path: Path) -> None:
    _active(api, fixtures_dir, tmp_path, "r_stop")
    assert api.call("POST", "/requests/r_stop/stop", "alice", json={"reason": "x"}).status_code == 403
    r = api.call("POST", "/requests/r_stop/stop", "operator", json={"reason": "site migration"})
    assert r.status_code == 200 and r.json()["status"] == "stopping"
    assert api.engine.removed and "site migration" in api.engine.removed[0][2]
    again = api.call("POST", "/requests/r_stop/stop", "operator", json={"reason": "x"})
    assert again.status_code == 409 and "stopping" in again.json()["detail"]
    assert api.call("POST", "/requests/nope/stop", "operator", json={"reason": "x"}).status_code == 404


def test_release_fail_from_held(api: Api, fixtures_dir: Path) -> None:
    for name in ("r_rel", "r_fail"):
        assert api.call("POST", "/requests", "alice", json=doc(fixtures_dir, name)).status_code == 201
    api.cycle()
    assert api.call("POST", "/requests/r_rel/release", "operator", json={"reason": "x"}).status_code == 409
    with api.db.session() as s:
        for row in s.scalars(select(RequestRow)):
            transition(row, RequestStatus.held, "wms2", "test")
    r = api.call("POST", "/requests/r_rel/release", "operator",
                 json={"reason": "memory fixed", "memory_mb": 6000, "site_bans": ["T2_XX_Alpha"]})
    assert r.status_code == 200 and r.json()["status"] == "queued"
    detail = api.get("/requests/r_rel").json()
    assert detail["overrides"] == {"memory_mb": 6000, "site_bans": ["T2_XX_Alpha"]}
    assert detail["status_transitions"][-1]["by"] == "operator"
    f = api.call("POST", "/requests/r_fail/fail", "operator", json={"reason": "bad config"})
    assert f.status_code == 200 and f.json()["status"] == "failed" and "events_produced" in f.json()["produced"]


def test_restart_and_versions(api: Api, fixtures_dir: Path, tmp_path: Path) -> None:
    _active(api, fixtures_dir, tmp_path, "r_rs")
    r = api.call("POST", "/requests/r_rs/restart", "operator",
                 json={"reason": "schedd lost", "cleanup_policy": "immediate_cleanup"})
    new = r.json()["new_request"]
    assert r.status_code == 200 and new.startswith("r_rs_v")
    chain = api.get(f"/requests/{new}/versions").json()
    assert [(v["name"], v["status"]) for v in chain] == [("r_rs", "failed"), (new, "submitted")]
    assert chain[1]["processing_version"] == chain[0]["processing_version"] + 1
    errors = api.get("/requests/r_rs/errors").json()
    assert isinstance(errors, dict)
    assert api.get(f"/requests/{new}/errors").status_code == 409  # no workflow yet


def test_dag_hold_and_release(api: Api, fixtures_dir: Path, tmp_path: Path) -> None:
    dag_id = _active(api, fixtures_dir, tmp_path, "r_hold")
    assert api.call("POST", f"/dags/{dag_id}/hold", "viewer", json={"reason": "x"}).status_code == 403
    r = api.call("POST", f"/dags/{dag_id}/hold", "operator", json={"reason": "storage full"})
    assert r.status_code == 200 and r.json()["status"] == "halted" and api.engine.held[0][0] == 4242
    assert api.call("POST", f"/dags/{dag_id}/hold", "operator", json={"reason": "x"}).status_code == 409
    r = api.call("POST", f"/dags/{dag_id}/release", "operator", json={"reason": "space freed"})
    assert r.status_code == 200 and r.json()["status"] == "running" and api.engine.released == [4242]
    assert api.call("POST", "/dags/999/hold", "operator", json={"reason": "x"}).status_code == 404
