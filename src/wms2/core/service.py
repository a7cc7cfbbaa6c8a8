"""Wiring: open the database and build the Lifecycle Manager for a home directory."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.exc import OperationalError

from wms2.config import Settings
from wms2.core.lifecycle import LifecycleManager
from wms2.core.workers import Workers
from wms2.db.migrate import current_revision, head_revision, upgrade
from wms2.db.session import Database


def init_home(settings: Settings) -> Database:
    """Create the state directories and bring the database schema up to date (idempotent)."""
    for path in (settings.home, settings.submit_base, settings.storage_root, settings.log_dir):
        Path(path).mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url, pool_size=settings.database_pool_size)
    upgrade(db.engine)
    return db


def open_database(settings: Settings) -> Database:
    """Open an initialised database; refuse one whose schema is not at the current revision."""
    url = settings.db_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise RuntimeError(f"no WMS2 database at {url.removeprefix('sqlite:///')}: run `wms2 init` first")
    db = Database(url, pool_size=settings.database_pool_size)
    try:
        current = current_revision(db.engine)
    except OperationalError as exc:
        db.dispose()
        raise RuntimeError(f"cannot open database {url}: {exc.orig}") from None
    head = head_revision()
    if current != head:
        db.dispose()
        hint = "run `wms2 init`" if current is None else "run `wms2 db upgrade`"
        raise RuntimeError(f"database {settings.db_url} is at schema revision {current}, expected {head}: {hint}")
    return db


def build_lifecycle(settings: Settings, db: Database, workers: Workers | None = None) -> LifecycleManager:
    return LifecycleManager(db, settings, workers=workers)


def configure_logging(settings: Settings) -> None:
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.FileHandler(settings.log_dir / "wms2.log")],
    )
