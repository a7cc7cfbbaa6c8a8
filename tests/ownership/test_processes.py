"""Real `wms2 run` / `wms2 serve` processes on one database: refusal, stand-by takeover after SIGKILL,
fencing of a SIGSTOPped owner, and `serve` stopping the pool daemon it started (issues 12 and 15).

Timing bounds are on the lease (3 s here), not on interpreter start-up, which is measured apart."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import SQLAlchemyError

from tests.ownership.conftest import Procs, log_of, wait_for
from wms2.config import load_settings
from wms2.core.ownership import LeaseInfo, read_lease
from wms2.core.service import init_home
from wms2.db.base import Base
from wms2.db.session import Database

pytestmark = pytest.mark.slow
LEASE_S = 3.0  # WMS2_OWNERSHIP__LEASE_SECONDS in procs_env
TAKEOVER_BOUND_S = LEASE_S + 5.0  # expiry + stand-by polling + a loaded machine's scheduling
START_S = 240.0  # interpreter start-up on a loaded 2-core machine (~3 s when idle)
REFUSAL_EXTRA_S = 5.0  # issue 12: the second owner exits within 5 s (beyond start-up, measured apart)


@pytest.fixture
def shared_db(db_url: str, home: Path, procs: Procs) -> Iterator[Database]:
    """An initialised database (SQLite under home, or the run's PostgreSQL) the subprocesses share."""
    procs.env["WMS2_HOME"] = str(home)
    if db_url.startswith("postgresql"):
        procs.env["WMS2_DATABASE_URL"] = db_url
        _drop(db_url)
    settings = load_settings(home, database_url=db_url)
    db = init_home(settings)
    try:
        yield db
    finally:
        procs.close()  # first: a stopped (SIGSTOP) process may hold locks that the drop would wait for
        db.dispose()
        if db_url.startswith("postgresql"):
            _drop(db_url)


def _drop(url: str) -> None:
    database = Database(url)
    Base.metadata.drop_all(database.engine)
    with database.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    database.dispose()


def _lease(db: Database) -> LeaseInfo | None:
    try:
        return read_lease(db)
    except SQLAlchemyError:
        return None


def _owned_by(db: Database, pid: int) -> LeaseInfo | None:
    info = _lease(db)
    return info if info is not None and info.pid == pid and info.state == "live" else None


def _alive(proc) -> bool:  # type: ignore[no-untyped-def]
    return proc.poll() is None


def test_second_owner_refused_naming_the_first(shared_db: Database, procs: Procs, home: Path) -> None:
    sqlite = shared_db.engine.dialect.name == "sqlite"
    procs.env["WMS2_OWNERSHIP__LEASE_SECONDS"] = "600"  # a second owner that waited for expiry would hang
    first = procs.start("run", "--home", str(home), name="first")
    wait_for(lambda: _owned_by(shared_db, first.pid) or not _alive(first), START_S, "the first owner")
    assert _alive(first), log_of(first)
    started = time.monotonic()
    baseline = procs.run("status", "--home", str(home), timeout=START_S)
    baseline_s = time.monotonic() - started
    assert baseline.returncode == 0, baseline.stderr
    started = time.monotonic()
    second = procs.run("run", "--home", str(home), timeout=START_S)
    elapsed = time.monotonic() - started
    assert second.returncode == 3, second.stdout + second.stderr
    message = " ".join(second.stderr.split())
    assert f"pid {first.pid}" in message and f"host {socket.gethostname()}" in message and "since" in message
    assert ("SQLite" in message) == sqlite
    # same imports and database opening as `wms2 status`; the refusal itself is timed in-process
    assert elapsed < 2 * baseline_s + REFUSAL_EXTRA_S, (elapsed, baseline_s)
    assert "Traceback" not in second.stderr
    if sqlite:  # stand-by needs PostgreSQL: refused as well, saying why
        standby = procs.run("run", "--standby", "--home", str(home), timeout=START_S)
        assert standby.returncode == 3 and "SQLite" in standby.stderr, standby.stderr
        serve = procs.run("serve", "--home", str(home), "--port", str(_free_port()), timeout=START_S)
        assert serve.returncode != 0 and f"pid {first.pid}" in " ".join(serve.stderr.split()), serve.stderr
    status = json.loads(procs.run("--home", str(home), "status", "--json", timeout=START_S).stdout)
    assert status["lifecycle"]["owner"]["pid"] == first.pid
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 0, log_of(first)
    assert _lease(shared_db).state == "released"  # type: ignore[union-attr]


def test_sqlite_owner_killed_then_restarted_takes_over_at_once(shared_db: Database, procs: Procs,
                                                                home: Path) -> None:
    if shared_db.engine.dialect.name != "sqlite":
        pytest.skip("the SQLite restart path (PostgreSQL stand-bys are tested below)")
    procs.env["WMS2_OWNERSHIP__LEASE_SECONDS"] = "600"  # the dead holder is seen at once, not at expiry
    first = procs.start("run", "--home", str(home), name="first")
    wait_for(lambda: _owned_by(shared_db, first.pid) or not _alive(first), START_S, "the first owner")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    second = procs.start("run", "--home", str(home), name="second")
    info = wait_for(lambda: _owned_by(shared_db, second.pid) or not _alive(second), START_S, "the restart")
    assert _alive(second) and info.token == 2, log_of(second)  # type: ignore[union-attr]


@pytest.mark.parametrize("standbys", [1, 2])
def test_standby_takes_over_after_sigkill(shared_db: Database, procs: Procs, home: Path, standbys: int) -> None:
    if shared_db.engine.dialect.name != "postgresql":
        pytest.skip("stand-by processes need PostgreSQL")
    owner = procs.start("run", "--home", str(home), name="owner")
    wait_for(lambda: _owned_by(shared_db, owner.pid) or not _alive(owner), START_S, "the first owner")
    port = _free_port()
    others = [procs.start("run", "--standby", "--home", str(home), name="standby-run")]
    if standbys == 2:
        others.append(procs.start("serve", "--home", str(home), "--port", str(port), name="standby-serve"))
    wait_for(lambda: all("stand-by" in log_of(p) or not _alive(p) for p in others), START_S,
             "the stand-bys to start")
    assert all(_alive(p) for p in others), [log_of(p) for p in others]
    os.killpg(owner.pid, signal.SIGKILL)
    killed = time.monotonic()
    info = wait_for(lambda: (i := _lease(shared_db)) is not None and i.token == 2 and i.state == "live" and i,
                    TAKEOVER_BOUND_S + 5, "a stand-by to take over")
    took = time.monotonic() - killed
    assert took <= TAKEOVER_BOUND_S, took
    assert info.pid in {p.pid for p in others}  # type: ignore[union-attr]
    time.sleep(LEASE_S)  # the others stay stand-by: the token does not move again
    assert _lease(shared_db).token == 2 and all(_alive(p) for p in others)  # type: ignore[union-attr]
    if standbys == 2:
        body = _get(port, "/api/v1/lifecycle", (home / "operator.token").read_text().strip())
        assert body["owner"]["pid"] == info.pid and body["owner"]["token"] == 2  # type: ignore[union-attr]
        assert body["this_process"]["role"] == ("owner" if info.pid == others[1].pid else "standby")  # type: ignore[union-attr]


Proc = subprocess.Popen[bytes]


def _pause_owner_until_taken_over(shared_db: Database, procs: Procs, home: Path,
                                  owner_args: tuple[str, ...]) -> tuple[Proc, Proc]:
    """An owner (`run` + ``owner_args``) and a `run --standby`; the owner is SIGSTOPped until the stand-by
    took over, then resumed: (the old owner, the new owner)."""
    owner = procs.start("run", *owner_args, "--home", str(home), name="owner")
    wait_for(lambda: _owned_by(shared_db, owner.pid) or not _alive(owner), START_S, "the first owner")
    standby = procs.start("run", "--standby", "--home", str(home), name="standby")
    wait_for(lambda: "stand-by" in log_of(standby) or not _alive(standby), START_S, "the stand-by")
    os.killpg(owner.pid, signal.SIGSTOP)
    wait_for(lambda: _owned_by(shared_db, standby.pid), TAKEOVER_BOUND_S + 5, "the takeover")
    os.killpg(owner.pid, signal.SIGCONT)
    return owner, standby


def test_paused_owner_cannot_write_after_takeover(shared_db: Database, procs: Procs, home: Path) -> None:
    if shared_db.engine.dialect.name != "postgresql":
        pytest.skip("stand-by processes need PostgreSQL")
    owner, standby = _pause_owner_until_taken_over(shared_db, procs, home, owner_args=())
    code = owner.wait(timeout=60)
    assert code != 0 and "lifecycle ownership lost" in log_of(owner), log_of(owner)
    info = _lease(shared_db)
    assert info is not None and info.pid == standby.pid and info.token == 2 and _alive(standby)


def test_standby_owner_that_lost_the_lease_waits_again(shared_db: Database, procs: Procs, home: Path) -> None:
    """`run --standby` everywhere (an HA pair): the paused owner, overtaken, goes back to stand-by instead of
    exiting, and takes over again when the new owner dies."""
    if shared_db.engine.dialect.name != "postgresql":
        pytest.skip("stand-by processes need PostgreSQL")
    first, second = _pause_owner_until_taken_over(shared_db, procs, home, owner_args=("--standby",))
    # Back to stand-by: it prints the new holder, as any stand-by does (the log file says "back to stand-by").
    wait_for(lambda: "lease token 2" in log_of(first) or not _alive(first), START_S, "the step-down")
    assert _alive(first), log_of(first)
    info = _lease(shared_db)
    assert info is not None and info.pid == second.pid and info.token == 2
    os.killpg(second.pid, signal.SIGKILL)
    wait_for(lambda: _owned_by(shared_db, first.pid), TAKEOVER_BOUND_S + 5, "the second takeover")
    info = _lease(shared_db)
    assert info is not None and info.token == 3 and _alive(first)


def _serve_with_pool(procs: Procs, home: Path, name: str) -> tuple[subprocess.Popen[bytes], int]:
    """A `wms2 serve` on the local engine, once its pool daemon runs: (the process, the daemon's pid)."""
    from wms2.engines.local_engine import pool_status

    procs.env.pop("WMS2_ENGINE__KIND")
    procs.env.pop("WMS2_ENGINE__SCHEDDS")
    settings = load_settings(home)
    server = procs.start("serve", "--home", str(home), "--port", str(_free_port()), name=name)
    info = wait_for(lambda: ((s := pool_status(settings))["running"] and s) or not _alive(server), START_S,
                    "the pool daemon")
    return server, int(info["pid"])  # type: ignore[index]


def _sigterm_stops_both(server: subprocess.Popen[bytes], pool_pid: int) -> None:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=120)
    wait_for(lambda: not _pid_alive(pool_pid), 30, f"the pool daemon {pool_pid} to stop")


def test_serve_sigterm_stops_the_pool_daemon_it_started(procs: Procs, tmp_path: Path) -> None:
    server, pool_pid = _serve_with_pool(procs, tmp_path / "serve-home", "serve")
    wait_for(lambda: "WMS2 API on" in log_of(server) or not _alive(server), START_S, "the API")
    assert _alive(server), log_of(server)
    _sigterm_stops_both(server, pool_pid)


def test_serve_sigterm_during_start_up_is_not_lost(procs: Procs, tmp_path: Path) -> None:
    """SIGTERM as soon as the pool daemon runs (the API not yet up): serve still stops, pool included."""
    server, pool_pid = _serve_with_pool(procs, tmp_path / "early-home", "early")
    _sigterm_stops_both(server, pool_pid)


def _pid_alive(pid: int) -> bool:
    from wms2.procs import process_alive as pid_alive

    return pid_alive(pid)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str, token: str) -> dict:  # type: ignore[type-arg]
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())
