"""Shared fixtures: settings on a temporary home, and a database on SQLite *and* PostgreSQL.

PostgreSQL: one throw-away database per test run on ``WMS2_TEST_PG_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``), dropped at the end.  Set ``WMS2_TEST_POSTGRES=0``
to run the SQLite half only (never in CI).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

import wms2.db.models  # noqa: F401
from wms2.config import Settings, load_settings
from wms2.db.base import Base
from wms2.db.session import Database, make_engine


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the whole ``make test`` duration (set-up included), which the Makefile starts timing."""
    started = os.environ.get("WMS2_TEST_STARTED")
    if started and started.isdigit():
        elapsed = time.time() - int(started)
        terminalreporter.write_line(f"make test: suite finished {elapsed:.0f} s after the test command started")


#: Two streams of heavy tests (end-to-end runs, the servers' tests, the browser): each runs on one xdist
#: worker, so at most two of the three workers run heavy tests at a time and the third runs the short ones
#: meanwhile; with three heavy tests at once the 2 cores were saturated while the short tests, left for
#: the end, waited on timers and subprocesses with a core idle (test-speed.md).  A server (Rucio,
#: ReqMgr2, a module's browser) is used by the tests of one stream only, so it starts once per run.
HEAVY_STREAMS: dict[str, tuple[str, ...]] = {
    "heavy-a": ("tests/e2e/test_demo_scenarios.py", "tests/rucio/", "tests/validation/"),
    "heavy-b": ("tests/e2e/test_failures_e2e.py", "tests/e2e/test_lifecycle_e2e.py", "tests/e2e/test_kill_restart.py",
                "tests/reqmgr2/", "tests/web/test_dashboard_browser.py"),
}
#: Elsewhere, every test using one of these session fixtures (a server, a data set) runs on one worker.
SHARED_FIXTURE_GROUPS = {"rucio_server": "rucio-server", "reqmgr2": "reqmgr2", "sets": "validation-sets"}
#: Module-scoped fixtures of that cost elsewhere: the tests using one run on one worker per module.
MODULE_FIXTURE_GROUPS = {"browser"}


def xdist_group_of(item: pytest.Item) -> str | None:
    """The ``xdist_group`` this suite gives ``item`` (None: any worker)."""
    nodeid = item.nodeid.split("@", 1)[0]
    for stream, prefixes in HEAVY_STREAMS.items():
        if nodeid.startswith(prefixes):
            return stream
    names = set(getattr(item, "fixturenames", ()))
    group = next((g for f, g in SHARED_FIXTURE_GROUPS.items() if f in names), None)
    if group is None and names & MODULE_FIXTURE_GROUPS:
        group = nodeid.split("::", 1)[0]
    return group


def _group(items: list[pytest.Item]) -> None:
    for item in items:
        group = xdist_group_of(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order and groups.  The end-to-end modules first (the longest, so each heavy stream starts with
    them), then one module of each test directory in turn: a directory's modules tend to wait alike
    (servers, daemons, timers) or compute alike, and mixed, one worker's waits overlap another's CPU work
    (test-speed.md).  Each module's tests stay together and in order, so module-scoped fixtures are set up
    once per worker.  Then the ``xdist_group`` marks (:func:`xdist_group_of`)."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    by_dir: dict[str, list[str]] = {}
    for module in modules:
        by_dir.setdefault(module.rsplit("/", 1)[0], []).append(module)
    first = by_dir.pop("tests/e2e", [])
    queues = list(by_dir.values())
    order = list(first)
    while queues:
        order.extend(q.pop(0) for q in queues)
        queues = [q for q in queues if q]
    items[:] = [item for module in order for item in modules[module]]
    _group(items)


FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
PG_ADMIN_URL = os.environ.get("WMS2_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_ENABLED = os.environ.get("WMS2_TEST_POSTGRES", "1") != "0"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    assert FIXTURES.is_dir(), f"shared fixtures not found at {FIXTURES}"
    return FIXTURES


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run."""
    if not PG_ENABLED:
        pytest.skip("PostgreSQL tests disabled by WMS2_TEST_POSTGRES=0")
    name = f"wms2_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("WMS2_HOME", str(h))
    return h


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings(home)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, home: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{home / 'wms2.db'}"
    return request.getfixturevalue("pg_database_url")


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """An empty schema on SQLite and on PostgreSQL (the test runs once on each)."""
    database = Database(db_url)
    Base.metadata.drop_all(database.engine)
    Base.metadata.create_all(database.engine)
    try:
        yield database
    finally:
        Base.metadata.drop_all(database.engine)
        database.dispose()
