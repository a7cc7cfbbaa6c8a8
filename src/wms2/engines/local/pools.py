"""Several local pools (schedd stand-ins, ``settings.engine.local_pools``): where each one lives.

Each name is one pool daemon with its own spool, port, cluster numbers and records, exactly as each
HTCondor schedd has its own queue; a DAG's ``schedd_name`` is the name of the pool that holds it.

- ``local`` (the default, and the only pool before issue 15) keeps the spool ``<home>/pool``, so the
  DAG records of existing installations (``schedd_name = "local"``) still reach their pool;
- any other name ``N`` has the spool ``<home>/pools/N``.

The port is ``engine.pool_port`` (0 = a free port each start); with a fixed port, the pool at
position ``i`` of ``local_pools`` listens on ``pool_port + i``.
"""

from __future__ import annotations

from pathlib import Path

from wms2.config import Settings

DEFAULT_POOL = "local"
POOLS_DIR = "pools"  # under the WMS2 home: one spool per non-default pool


def pool_names(settings: Settings) -> list[str]:
    """The configured pools, in placement order (ties go to the earlier one)."""
    return list(settings.engine.local_pools)


def pool_spool(settings: Settings, name: str) -> Path:
    """The spool directory of pool ``name`` (configured or not: a DAG recorded on a pool that was
    removed from the configuration is still looked for where that pool kept it)."""
    return settings.pool_dir if name == DEFAULT_POOL else settings.home / POOLS_DIR / name


def pool_port(settings: Settings, name: str) -> int:
    base = settings.engine.pool_port
    if base == 0:
        return 0
    names = pool_names(settings)
    return base + (names.index(name) if name in names else len(names))
