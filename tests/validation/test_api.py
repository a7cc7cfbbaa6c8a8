"""``/api/v1/validations``: a background validation of two requests' registered outputs, its report page
(served with its own CSP), the listing per request, roles and errors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.core.helpers import stepchain_doc, submit
from tests.validation.conftest import Sets
from wms2.api import create_app
from wms2.api.auth import create_token
from wms2.config import Settings
from wms2.db.base import Base
from wms2.db.session import Database
from wms2.db.tables import RequestRow
from wms2.services.outputs import LocalCatalogWriter, OutputFile
from wms2.validation.report import REPORT_CSP

WAIT_S = 240.0  # the runner thread on a loaded 2-core machine


def _register(db: Database, settings: Settings, name: str, files: list[Path]) -> None:
    """Register ``files`` as the GEN-SIM output of request ``name`` and put them where local stage-out
    would (storage root + LFN)."""
    with db.session() as session:
        dataset = next(d for d in session.scalar(select(RequestRow).where(RequestRow.name == name)).output_datasets
                       if d.endswith("/GEN-SIM"))
        writer = LocalCatalogWriter(session)
        block = f"{dataset}#0000-{name}"
        writer.open_block(dataset, block)
        outputs = []
        for i, f in enumerate(files):
            lfn = f"/store/mc/validation/{name}/{i:03d}.root"
            target = settings.storage_root / lfn.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, target)
            outputs.append(OutputFile(lfn=lfn, size=target.stat().st_size, adler32="00000001", events=20_000))
        writer.register_files(dataset, block, outputs)


@pytest.fixture
def client(settings: Settings, fixtures_dir: Path, sets: Sets) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings.validation.workers = 1
    db = Database(settings.db_url)
    Base.metadata.create_all(db.engine)
    submit(db, settings, [stepchain_doc(fixtures_dir, n) for n in ("val_ref", "val_new", "val_empty")])
    _register(db, settings, "val_ref", sets.ref)
    _register(db, settings, "val_new", sets.shifted)
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
    assert _post(tc, auth, "operator", {"ref": "val_ref", "new": "nope"}).status_code == 404
    assert _post(tc, auth, "operator", {"ref": "val_ref", "new": "bad name!"}).status_code == 422
    assert _post(tc, auth, "operator", {"ref": "val_ref"}).status_code == 422
    assert tc.get("/api/v1/validations/999", headers=viewer).status_code == 404
    failed = _post(tc, auth, "operator", {"ref": "val_ref", "new": "val_empty"}).json()
    assert tc.app.state.validation_runner.wait_idle(WAIT_S)  # type: ignore[attr-defined]
    row = tc.get(f"/api/v1/validations/{failed['id']}", headers=viewer).json()
    assert row["status"] == "failed" and "val_empty" in row["error"] and "no registered output" in row["error"]
    assert tc.get(f"/api/v1/validations/{failed['id']}/report", headers=viewer).status_code == 409
