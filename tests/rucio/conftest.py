"""A real Rucio server (PyPI rucio 41.5.1 under gunicorn, SQLite), started once per test session.

Needs the server venv: ``scripts/ensure-rucio.sh`` (the Makefile's ``test`` target runs it).  Without
it the session fixture fails with that instruction; it does not skip.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import wms2.db.models  # noqa: F401
from wms2.config import Settings, load_settings
from wms2.db.base import Base
from wms2.db.session import Database
from wms2.devservices import rucio_dev
from wms2.services.rucio_gateway import RucioConfig, RucioGateway

START_BUDGET_S = 300.0  # bootstrap ~2 s + gunicorn < 5 s idle; 30-140 s seen on the loaded 2-core machine


@pytest.fixture(scope="session")
def rucio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rucio_dev.ServerState]:
    venv = rucio_dev.venv_dir()
    if not (venv / f".installed-{rucio_dev.RUCIO_VERSION}").is_file():
        pytest.fail(f"the Rucio server venv is missing ({venv}); run scripts/ensure-rucio.sh first", pytrace=False)
    home = tmp_path_factory.mktemp("rucio-server")
    started = time.monotonic()
    try:
        state = rucio_dev.start(home)
        elapsed = time.monotonic() - started
        assert elapsed < START_BUDGET_S, f"the Rucio server took {elapsed:.0f} s to start"
        yield state
    finally:
        rucio_dev.stop(home)


def gateway_for(state: rucio_dev.ServerState, **overrides: Any) -> RucioGateway:
    cfg = RucioConfig(url=state.url, account=state.account, username=state.account, password=state.password,
                      client_config=state.client_config, scope=state.scope, retries=1, retry_backoff_s=0.05)
    for key, value in overrides.items():
        cfg = RucioConfig(**{**cfg.__dict__, key: value})
    return RucioGateway(cfg)


@pytest.fixture
def gateway(rucio_server: rucio_dev.ServerState) -> RucioGateway:
    return gateway_for(rucio_server)


@pytest.fixture
def rucio_client(gateway: RucioGateway) -> Any:
    """The raw client, for checks made by listing from Rucio (never from WMS2's tables)."""
    return gateway.call("whoami", "-", lambda c: c)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'wms2.db'}")
    Base.metadata.create_all(database.engine)
    try:
        yield database
    finally:
        database.dispose()


def cms_settings(state: rucio_dev.ServerState, home: Path, **catalog: Any) -> Settings:
    password_file = home / "rucio-password"
    password_file.write_text(state.password)
    return load_settings(home, catalog={
        "backend": "cms", "rucio_url": state.url, "rucio_account": state.account,
        "rucio_password_file": str(password_file), "rucio_client_config": state.client_config or None,
        "rucio_retries": 1, "rucio_retry_backoff_s": 0.05, **catalog},
        output={"archival_rse": "T1_XX_SiteB_Tape", "consolidation_rse": "T2_XX_SiteA"})


def unique_dataset(tier: str = "AODSIM") -> str:
    """A dataset name no other test uses (the server is shared by the session)."""
    return f"/Prim{uuid.uuid4().hex[:10]}/Era-Proc-v1/{tier}"
