"""Build the workers the Lifecycle Manager calls, from the settings (the embedded defaults: local
engine, local catalog, local rule service)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from wms2.config import Settings
from wms2.core.active import ActiveHandler
from wms2.core.error_handler import PartialHandler, StoppingHandler
from wms2.core.launcher import PlanningLauncher
from wms2.core.monitor import DagMonitor
from wms2.core.operator import Operator
from wms2.core.output_manager import OutputManager
from wms2.core.reqmgr_sync import ReqMgrSync
from wms2.core.status_reader import ReaderSettings, StatusReader
from wms2.core.workers import Workers
from wms2.db.session import Database
from wms2.domain.enums import RequestStatus
from wms2.engines.base import Engine
from wms2.engines.factory import make_engine
from wms2.services.local_catalog import LocalCatalog
from wms2.services.outputs import LocalCatalogWriter, LocalRuleService

log = logging.getLogger(__name__)


def build_output_manager(settings: Settings) -> OutputManager:
    if settings.catalog.backend == "cms":
        from wms2.services.rucio_catalog import CmsBackend

        backend = CmsBackend.from_settings(settings)
        return OutputManager(settings, catalog=backend.writer, rules=backend.rules)
    return OutputManager(settings, catalog=LocalCatalogWriter, rules=LocalRuleService)


def build_planning_catalog(settings: Settings) -> Callable[[Session], Any]:
    """What planning reads inputs from: the embedded catalog, or files + Rucio replicas (``cms``)."""
    if settings.catalog.backend == "cms":
        from wms2.services.rucio_catalog import CmsBackend

        return CmsBackend.from_settings(settings).catalog
    return LocalCatalog


def build_status_reader(settings: Settings) -> StatusReader | None:
    """The lifecycle's status-reader process (started on first use), or None (read in-process)."""
    lc = settings.lifecycle
    if lc.status_reader_processes < 1:
        return None
    if len(os.sched_getaffinity(0)) < 2:  # no second core to read on: the reader would only add its IPC
        log.info("lifecycle: one CPU available, DAGMan's files are read in-process")
        return None
    return StatusReader(ReaderSettings(timeout_s=lc.status_reader_timeout_seconds,
                                       restart_s=lc.status_reader_restart_seconds,
                                       min_dags=lc.status_reader_min_dags))


def build_workers(settings: Settings, db: Database, engine: Engine | None = None) -> Workers:
    """Every worker, wired to the configured engine (started on demand for the local pool)."""
    if engine is None:
        if settings.engine.kind == "local":
            from wms2.engines.local_engine import ensure_pool_running

            ensure_pool_running(settings)
        engine = make_engine(settings)
    outputs = build_output_manager(settings)
    workers = Workers(
        launcher=PlanningLauncher(engine=engine, catalog=build_planning_catalog(settings), outputs=outputs),
        engine=engine,
        extra_handlers={
            RequestStatus.active: ActiveHandler(DagMonitor(engine, reader=build_status_reader(settings)), outputs),
            RequestStatus.partial: PartialHandler(),
            RequestStatus.stopping: StoppingHandler(engine),
        },
        cycle_tasks=[ReqMgrSync(settings, engine)] if settings.reqmgr2.teams else [],
    )
    if settings.engine.kind == "local" and settings.engine.restart_dead_pools:
        from wms2.engines.local.keeper import PoolKeeper

        workers.cycle_tasks.append(PoolKeeper())
    return workers


def build_operator(settings: Settings, engine: Engine) -> Operator:
    return Operator(settings, engine, build_output_manager(settings))
