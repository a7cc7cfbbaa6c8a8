"""``/api/v1/validations``: a background validation of two requests' registered outputs, its report page
(served with its own CSP), the listing per request, the candidates for the other side, the reason kept,
roles and errors (a refused side named)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.core.helpers import stepchain_doc, submit
from tests.validation.conftest import Sets
from tests.validation.helpers import register_outputs
from wms2.api import create_app
from wms2.api.auth import create_token
from wms2.config import Settings
from wms2.db.base import Base
from wms2.db.session import Database
from wms2.validation.jobs import ValidationRunner
from wms2.validation.report import REPORT_CSP

WAIT_S = 240.0  # the runner thread on a loaded 2-core machine


@pytest.fixture
def client(settings: Settings, fixtures_dir: Path, sets: Sets) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings.validation.workers = 1
    db = Database(settings.db_url)
    Base.metadata.create_all(db.engine)
    submit(db, settings, [stepchain_doc(fixtures_dir, n) for n in ("val_ref", "val_new", "val_empty", "val_gone")])
    register_outputs(db, settings, "val_ref", sets.ref)
    register_outputs(db, settings, "val_new", sets.shifted)
    register_outputs(db, settings, "val_gone", sets.same[:1])
    for f in (settings.storage_root / "store/mc/validation/val_gone").iterdir():
        f.unlink()  # registered, but lost from the storage: the job fails reading it
    with db.session() as session:
        tokens = {who: create_token(session, who, who, "test")[1] for who in ("viewer", "operator")}
    app = create_app(settings, db)
    try:
        with TestClient(app, client=("127.0.0.1", 50000)) as tc:
            yield tc, {who: f"Bearer {t}" for who, t in tokens.items()}
            runner = getattr(app.state, "validation_runner", None)
            if runner is not None:
                runner.wait_idle(WAIT_S)
    finally:
        db.dispose()


def _post(tc: TestClient, auth: dict[str, str], who: str, body: dict[str, Any]) -> Any:
    return tc.post("/api/v1/validations", json=body, headers={"Authorization": auth[who]})


def test_validation_job_report_and_listing(client: tuple[TestClient, dict[str, str]]) -> None:
    tc, auth = client
    viewer = {"Authorization": auth["viewer"]}
    assert _post(tc, auth, "viewer", {"ref": "val_ref", "new": "val_new"}).status_code == 403
    created = _post(tc, auth, "operator", {"ref": "val_ref", "new": "val_new"})
    assert created.status_code == 202, created.text
    vid = created.json()["id"]
    assert created.json()["status"] in ("queued", "running", "done")
    assert tc.app.state.validation_runner.wait_idle(WAIT_S)  # type: ignore[attr-defined]

    got = tc.get(f"/api/v1/validations/{vid}", headers=viewer).json()
    assert got["status"] == "done" and got["verdict"] == "different", got
    assert got["result"]["branches"][0]["name"] == "LeadJet_pt"
    assert got["result"]["branches"][0]["group"] == "GEN-SIM"
    assert got["report_url"] == f"/api/v1/validations/{vid}/report"

    page = tc.get(got["report_url"], headers=viewer)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == REPORT_CSP
    assert "data:image/png;base64," in page.text and "<script" not in page.text

    for name in ("val_ref", "val_new"):  # linked from both requests
        listed = tc.get("/api/v1/validations", params={"request": name}, headers=viewer).json()
        assert [v["id"] for v in listed["items"]] == [vid] and listed["total"] == 1
    assert tc.get("/api/v1/validations", params={"request": "val_empty"}, headers=viewer).json()["total"] == 0


def test_validation_errors(client: tuple[TestClient, dict[str, str]]) -> None:
    tc, auth = client
    viewer = {"Authorization": auth["viewer"]}
    refused = {
        "new: no request named nope": {"ref": "val_ref", "new": "nope"},
        "ref: no request named nope": {"ref": "nope", "new": "val_new"},
        "new: request val_empty has no registered output file yet": {"ref": "val_ref", "new": "val_empty"},
        "ref: request val_empty has no registered output file yet": {"ref": "val_empty", "new": "val_ref"},
        "new: the same request as ref": {"ref": "val_ref", "new": "val_ref"},
    }
    for message, body in refused.items():
        answer = _post(tc, auth, "operator", body)
        assert answer.status_code == 422 and answer.json()["detail"].startswith(message), (body, answer.text)
        assert answer.json()["errors"][0]["field"] == message.split(":")[0]
    assert _post(tc, auth, "operator", {"ref": "val_ref", "new": "bad name!"}).status_code == 422
    assert _post(tc, auth, "operator", {"ref": "val_ref"}).status_code == 422
    assert _post(tc, auth, "operator", {"ref": "val_ref", "new": "val_new", "reason": ""}).status_code == 422
    assert tc.get("/api/v1/validations/999", headers=viewer).status_code == 404
    assert tc.get("/api/v1/validations", params={"request": "val_empty"}, headers=viewer).json()["total"] == 0

    failed = _post(tc, auth, "operator", {"ref": "val_ref", "new": "val_gone"}).json()
    assert tc.app.state.validation_runner.wait_idle(WAIT_S)  # type: ignore[attr-defined]
    row = tc.get(f"/api/v1/validations/{failed['id']}", headers=viewer).json()
    assert row["status"] == "failed" and "val_gone/000.root" in row["error"], row
    assert row["progress"] is None and row["queue_position"] is None and row["report_url"] is None
    assert tc.get(f"/api/v1/validations/{failed['id']}/report", headers=viewer).status_code == 409


def test_candidates_for_the_other_side(client: tuple[TestClient, dict[str, str]]) -> None:
    tc, auth = client
    viewer = {"Authorization": auth["viewer"]}

    def names(**params: str) -> tuple[list[str], Any]:
        got = tc.get("/api/v1/validations/candidates", params=params, headers=viewer)
        assert got.status_code == 200, got.text
        return [c["name"] for c in got.json()["items"]], got.json()["request"]

    # newest first; only requests with valid registered files (val_empty has none)
    assert names() == (["val_gone", "val_new", "val_ref"], None)
    items, this = names(request="val_empty")
    assert items == ["val_gone", "val_new", "val_ref"] and this is None
    items, this = names(request="val_ref")
    assert items == ["val_gone", "val_new"]
    assert this["files"] == 2 and this["tiers"] == ["GEN-SIM"] and this["bytes"] > 0 and this["status"] == "submitted"
    assert names(q="NEW") == (["val_new"], None)
    assert names(limit="1")[0] == ["val_gone"]
    assert tc.get("/api/v1/validations/candidates", params={"limit": 0}, headers=viewer).status_code == 422


def test_reason_and_light_polling(client: tuple[TestClient, dict[str, str]]) -> None:
    tc, auth = client
    viewer = {"Authorization": auth["viewer"]}
    created = _post(tc, auth, "operator", {"ref": "val_new", "new": "val_ref", "reason": "new release 15_0_1"})
    assert created.status_code == 202, created.text
    vid = created.json()["id"]
    assert created.json()["reason"] == "new release 15_0_1"
    assert tc.app.state.validation_runner.wait_idle(WAIT_S)  # type: ignore[attr-defined]
    light = tc.get(f"/api/v1/validations/{vid}", params={"result": "false"}, headers=viewer).json()
    assert light["status"] == "done" and light["verdict"] == "different" and light["result"] is None
    assert light["reason"] == "new release 15_0_1" and light["report_url"].endswith(f"/{vid}/report")
    listed = tc.get("/api/v1/validations", params={"request": "val_ref"}, headers=viewer).json()["items"]
    assert listed[0]["id"] == vid and listed[0]["reason"] == "new release 15_0_1" and listed[0]["result"] is None


def test_queue_position_then_progress(client: tuple[TestClient, dict[str, str]]) -> None:
    """A runner whose thread is not started yet: two queued jobs show their place in line; progress
    reported by the comparison shows while the job is not finished; once started, both run."""
    tc, auth = client
    viewer = {"Authorization": auth["viewer"]}
    ctx = tc.app.state.ctx  # type: ignore[attr-defined]
    runner = ValidationRunner(ctx.settings, ctx.db)
    tc.app.state.validation_runner = runner  # type: ignore[attr-defined]
    first = _post(tc, auth, "operator", {"ref": "val_ref", "new": "val_new"}).json()
    second = _post(tc, auth, "operator", {"ref": "val_new", "new": "val_ref"}).json()
    assert (first["queue_position"], second["queue_position"]) == (1, 2)
    assert first["status"] == "queued" and first["progress"] is None
    runner._report(first["id"])("scan", 3, 8)  # what compare() calls as it advances
    got = tc.get(f"/api/v1/validations/{first['id']}", params={"result": "false"}, headers=viewer).json()
    assert got["progress"] == {"stage": "scan", "done": 3, "total": 8}
    runner.start()
    assert runner.wait_idle(WAIT_S)
    for vid in (first["id"], second["id"]):
        done = tc.get(f"/api/v1/validations/{vid}", params={"result": "false"}, headers=viewer).json()
        assert done["status"] == "done" and done["progress"] is None and done["queue_position"] is None
