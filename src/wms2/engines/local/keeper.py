"""``PoolKeeper``: the local pools' ``condor_master`` (opt-in, ``engine.restart_dead_pools``).

HTCondor's ``condor_master`` restarts a schedd that died; the schedd then finds its DAGMan jobs in its
job queue and DAGMan recovers each DAG from its node log.  The local pools have no master, so without
this a killed pool daemon stays down until ``wms2 serve`` / ``wms2 pool start`` starts it again.  This
cycle task, called by the Lifecycle Manager once per cycle, starts every configured pool whose daemon
is gone (its pid file names no live daemon: one ``stat`` and no network call per pool, so a hung daemon
never blocks the cycle); the pool recovers its DAGs from its spool (``recovery.py``).  It never touches a DAG or a
request: while a pool is down, its DAGs are alerted as "schedd unreachable" like any schedd's.
"""

from __future__ import annotations

import logging
from datetime import datetime

from wms2.config import Settings
from wms2.engines.base import ScheddUnreachable
from wms2.engines.local.client import daemon_pid, ensure_pool_running
from wms2.engines.local.pools import pool_names, pool_spool

log = logging.getLogger(__name__)


class PoolKeeper:
    name = "local-pool-keeper"

    def __init__(self) -> None:
        self.restarts: dict[str, int] = {}  # pool -> restarts by this keeper (for logs and tests)

    def run_cycle(self, db: object, settings: Settings, now: datetime) -> None:  # needs no database
        for pool in pool_names(settings):
            if daemon_pid(settings, pool) is not None:
                continue  # its daemon is alive (maybe starting, recovering or busy): never a second one
            try:
                answer = ensure_pool_running(settings, pool)
            except ScheddUnreachable as exc:
                log.error("local pool %s is down and did not restart: %s", pool, exc)
                continue
            self.restarts[pool] = self.restarts.get(pool, 0) + 1
            log.warning("local pool %s was down: restarted as pid %s; it recovers its DAGs from %s",
                        pool, answer.get("pid"), pool_spool(settings, pool))
