"""Wiring: open the database and build the Lifecycle Manager for a home directory."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from wms2.config import Settings
from wms2.core.db_outage import describe_db_error, hide_password
from wms2.core.lifecycle import LifecycleManager
from wms2.core.workers import Workers
from wms2.db.migrate import current_revision, head_revision, upgrade
from wms2.db.session import Database


def init_home(settings: Settings) -> Database:
    """Create the state directories and bring the database schema up to date (idempotent)."""
    for path in (settings.home, settings.submit_base, settings.storage_root, settings.log_dir):
        Path(path).mkdir(parents=True, exist_ok=True)
    db = _connect(settings)
    try:
        upgrade(db.engine)
    except SQLAlchemyError as exc:
        db.dispose()
        raise RuntimeError(describe_db_error(settings.db_url, exc)) from None
    return db


def _connect(settings: Settings) -> Database:
    """The engine for ``settings.db_url``; a malformed URL or a missing driver is one clear line."""
    try:
        return Database(settings.db_url, pool_size=settings.database_pool_size)
    except (ArgumentError, SQLAlchemyError, ImportError) as exc:
        raise RuntimeError(describe_db_error(settings.db_url, exc)) from None


class DatabaseUnreachable(RuntimeError):
    """The database server did not let us in (connection refused, timed out, starting up, credentials):
    the one error a waiting process (``wms2 run --standby``) retries at start-up."""


def open_database(settings: Settings) -> Database:
    """Open an initialised database; refuse one whose schema is not at the current revision."""
    url = settings.db_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise RuntimeError(f"no WMS2 database at {url.removeprefix('sqlite:///')}: run `wms2 init` first")
    db = _connect(settings)
    try:
        current = current_revision(db.engine)
    except OperationalError as exc:  # no answer: refused, timed out, starting up, ... (or credentials)
        db.dispose()
        raise DatabaseUnreachable(describe_db_error(url, exc)) from None
    except SQLAlchemyError as exc:
        db.dispose()
        raise RuntimeError(describe_db_error(url, exc)) from None
    head = head_revision()
    if current != head:
        db.dispose()
        hint = "run `wms2 init`" if current is None else "run `wms2 db upgrade`"
        raise RuntimeError(f"database {hide_password(url)} is at schema revision {current}, expected {head}: {hint}")
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
