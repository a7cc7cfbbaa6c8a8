"""In-process CLI checks: `wms2 status`, the global `--home`, one-line database errors, the outage backoff."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.ownership.conftest import short_lease, wait_for
from wms2.cli import app
from wms2.config import Settings, load_settings
from wms2.core.db_outage import ALERT_KIND, DatabaseOutage, describe_db_error, hide_password
from wms2.core.lifecycle import LifecycleManager
from wms2.core.ownership import Lease
from wms2.core.service import init_home
from wms2.db.session import Database
from wms2.db.tables import AlertRow

runner = CliRunner()
BAD_PG = "postgresql://wms2:s3cr3t-pw@127.0.0.1:1/wms2"  # nothing listens on port 1


def test_global_home_option_before_the_command(tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    out = runner.invoke(app, ["--home", str(home), "init"], env={"WMS2_HOME": str(tmp_path / "not-this")})
    assert out.exit_code == 0, out.output
    assert (home / "wms2.db").is_file() and not (tmp_path / "not-this").exists()
    status = runner.invoke(app, ["--home", str(home), "status", "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["home"] == str(home)
    # the command's own --home wins over the global one
    other = tmp_path / "other"
    assert runner.invoke(app, ["--home", str(home), "init", "--home", str(other)]).exit_code == 0
    assert (other / "wms2.db").is_file()


def test_status_names_the_owner(settings: Settings) -> None:
    db = init_home(settings)
    try:
        none_yet = runner.invoke(app, ["status", "--home", str(settings.home), "--json"])
        assert none_yet.exit_code == 0, none_yet.output
        assert json.loads(none_yet.stdout)["lifecycle"]["owner"] is None
        lease = Lease(db, short_lease(60), "run")
        assert lease.try_acquire() is None
        out = runner.invoke(app, ["status", "--home", str(settings.home), "--json"])
        data = json.loads(out.stdout)
        owner = data["lifecycle"]["owner"]
        assert (owner["host"], owner["pid"], owner["state"], owner["token"]) == (lease.me.host, lease.me.pid,
                                                                                  "live", 1)
        assert data["database"]["single_process"] is True and data["database"]["revision"]
        assert data["pool"]["running"] is False
        text = runner.invoke(app, ["status", "--home", str(settings.home)])
        assert f"pid {lease.me.pid}" in text.stdout and f"host {lease.me.host}" in text.stdout, text.stdout
    finally:
        db.dispose()


@pytest.mark.parametrize("command", [["init"], ["run", "--once"], ["serve"], ["status"]])
def test_wrong_database_url_is_one_line(command: list[str], tmp_path: Path) -> None:
    out = runner.invoke(app, [*command, "--home", str(tmp_path / "h")], env={"WMS2_DATABASE_URL": BAD_PG})
    assert out.exit_code != 0
    assert out.exception is None or isinstance(out.exception, SystemExit), repr(out.exception)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, out.stderr
    assert "127.0.0.1:1" in lines[0] and "***" in lines[0] and "s3cr3t" not in out.output + out.stderr
    assert "Traceback" not in out.output + out.stderr


def test_db_error_messages_hide_the_password() -> None:
    assert hide_password(BAD_PG) == "postgresql://wms2:***@127.0.0.1:1/wms2"
    assert hide_password("nonsense://a:b@c/d e") == "nonsense://a:***@c/d e"
    line = describe_db_error("mysql://u:pw123@h/db", RuntimeError("boom pw123"))
    assert "pw123" not in line and "\n" not in line


def test_lifecycle_retries_an_unreachable_database_with_backoff(settings: Settings) -> None:
    settings.ownership = short_lease()
    db = Database(BAD_PG)
    manager = LifecycleManager(db, settings)
    stop = threading.Event()
    thread = threading.Thread(target=manager.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: manager.outage.attempts >= 4, 60, "four failed attempts")
        assert thread.is_alive()  # the loop keeps going
        view = manager.outage.view()
        assert view is not None and "s3cr3t" not in view["last_error"]
    finally:
        stop.set()
        manager.wake()
        thread.join(30)
        db.dispose()
    outage = DatabaseOutage(short_lease(), BAD_PG)
    delays = [outage.failed(OSError("refused"), outage.since or _now()) for _ in range(5)]
    assert delays == [0.05, 0.1, 0.2, 0.2, 0.2]


def _now():  # type: ignore[no-untyped-def]
    from wms2.db.base import utcnow

    return utcnow()


def test_outage_is_stored_as_an_alert_once_the_database_answers(db: Database) -> None:
    outage = DatabaseOutage(short_lease(), BAD_PG)
    outage.failed(OSError("connection refused"), _now())
    with db.session() as session:
        outage.recovered(session, _now())
    with db.session() as session:
        alert = session.scalar(select(AlertRow))
        assert alert is not None and alert.kind == ALERT_KIND and "unreachable" in alert.reason
        assert "s3cr3t" not in alert.reason
    assert outage.view() is None


def test_load_settings_home(tmp_path: Path) -> None:
    assert load_settings(tmp_path).ownership.lease_seconds == 20.0
