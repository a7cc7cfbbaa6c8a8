"""A private local pool for the conformance suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wms2.config import Settings
from wms2.engines.local.client import ensure_pool_running, stop_pool


@pytest.fixture(scope="module")
def conformance_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = Settings(home=tmp_path_factory.mktemp("conformance_home"))
    ensure_pool_running(settings)
    yield settings
    stop_pool(settings)
