"""``wms2 serve`` pieces (listen-address guard, first operator token) and ``wms2 token create``."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from wms2.api.auth import hash_token
from wms2.api.server import (
    TOKEN_FILE,
    UnsafeListenAddress,
    bootstrap_operator_token,
    check_listen_address,
)
from wms2.cli import serve as serve_cli
from wms2.config import Settings
from wms2.db.auth_tables import ApiTokenRow
from wms2.db.session import Database


def test_listen_address_guard(settings: Settings) -> None:
    check_listen_address(settings)  # 127.0.0.1 by default
    s = settings.model_copy(deep=True)
    s.api.host = "0.0.0.0"
    with pytest.raises(UnsafeListenAddress, match=r"api\.host"):
        check_listen_address(s)
    s.api.trusted_proxies = ["10.0.0.5"]
    check_listen_address(s)
    s.api.host = "::1"
    s.api.trusted_proxies = []
    check_listen_address(s)


def test_first_operator_token_only_once(db: Database, settings: Settings) -> None:
    secret = bootstrap_operator_token(settings, db)
    assert secret is not None and secret.startswith("wms2_")
    path = Path(settings.home) / TOKEN_FILE
    assert path.read_text().strip() == secret and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert bootstrap_operator_token(settings, db) is None
    with db.session() as s:
        rows = list(s.scalars(select(ApiTokenRow)))
    assert [(r.role, r.token_hash) for r in rows] == [("operator", hash_token(secret))]


def test_token_create_cli(settings: Settings) -> None:
    app = typer.Typer()
    serve_cli.register(app)
    runner = CliRunner()
    out = runner.invoke(app, ["token", "create", "--role", "requestor", "--name", "alice", "--home",
                              str(settings.home), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["role"] == "requestor" and data["name"] == "alice" and data["token"].startswith("wms2_")
    db = Database(settings.db_url)
    try:
        with db.session() as s:
            row = s.scalar(select(ApiTokenRow).where(ApiTokenRow.name == "alice"))
            assert row is not None and row.token_hash == hash_token(data["token"])
    finally:
        db.dispose()
    bad = runner.invoke(app, ["token", "create", "--role", "admin", "--name", "x", "--home", str(settings.home)])
    assert bad.exit_code == 1 and "role" in bad.output
