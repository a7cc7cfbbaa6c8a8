"""One real local ReqMgr2 per test session (``wms2 dev reqmgr2``), started in bounded time.

Needs ``scripts/ensure-reqmgr2.sh`` to have run (the Makefile's test target calls it): when the
installation is missing the fixture fails with that instruction instead of installing for minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wms2.config import load_settings
from wms2.devservices.reqmgr2.install import installation
from wms2.devservices.reqmgr2.server import start, stop
from wms2.engines.local_engine import stop_pool

START_TIMEOUT_S = 180.0


@pytest.fixture(scope="session")
def reqmgr2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not installation().complete():
        pytest.fail(f"the local ReqMgr2 is not installed under {installation().venv.parent}:"
                    " run scripts/ensure-reqmgr2.sh first (make test does)")
    home: Path = tmp_path_factory.mktemp("reqmgr2")
    state = start(home, timeout_s=START_TIMEOUT_S)
    try:
        yield state
    finally:
        stop(home)


@pytest.fixture(autouse=True)
def _no_pool_left_behind(tmp_path: Path) -> Iterator[None]:
    """Every WMS2 home a test made under ``tmp_path`` has its local pool daemon stopped afterwards (the
    in-process lifecycle starts one and, unlike ``wms2 demo``, leaves it running)."""
    yield
    for toml in sorted(tmp_path.glob("*/wms2.toml")):
        stop_pool(load_settings(toml.parent))
