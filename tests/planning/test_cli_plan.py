"""`wms2 plan NAME --dry-run --json` on a database filled in the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wms2.cli import app
from wms2.config import load_settings
from wms2.core.workflow_manager import submit_documents
from wms2.db.base import Base
from wms2.db.session import Database
from wms2.services.local_catalog import generate_dataset

from .conftest import data_document, mc_document


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("WMS2_HOME", str(home))
    settings = load_settings(home)
    db = Database(settings.db_url)
    Base.metadata.create_all(db.engine)
    with db.session() as s:
        submit_documents(s, [("mc", mc_document(WMS2Adaptive=False)),
                             ("data", data_document("LumiBased"))], settings, by="test")
        generate_dataset(s, "/TestPrimary/Run2024A-v1/RAW", 10, 1000, 6, 2, ["T2_CH_CERN"], seed=1)
    db.dispose()
    return home


def test_plan_dry_run_json(cli_home: Path) -> None:
    res = CliRunner().invoke(app, ["plan", "test_mc_request", "--dry-run", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert (out["jobs"], out["work_units"], out["nodes"]) == (100, 13, 139)
    assert out["blocks"][0]["dataset"] == "/TestPrimary/TestEra-Test-v1/GEN-SIM"
    assert out["resources"]["Processing"]["memory_mb"] == 2000 and out["dry_run"] is True
    assert not (cli_home / "submit").exists()


def test_plan_dry_run_input_request_writes_nothing(cli_home: Path) -> None:
    res = CliRunner().invoke(app, ["plan", "test_lumibased", "--dry-run", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["files"] >= 1 and out["work_remaining"] is True  # adaptive pilot
    db = Database(load_settings(cli_home).db_url)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from input_files").scalar() == 0
    db.dispose()
    res = CliRunner().invoke(app, ["plan", "test_lumibased", "--dry-run"])
    assert res.exit_code == 0 and "work units" in res.output


def test_plan_errors(cli_home: Path) -> None:
    res = CliRunner().invoke(app, ["plan", "nope", "--dry-run"])
    assert res.exit_code != 0 and "no request named nope" in res.output
    res = CliRunner().invoke(app, ["plan", "test_mc_request"])
    assert res.exit_code != 0 and "--dry-run" in res.output
