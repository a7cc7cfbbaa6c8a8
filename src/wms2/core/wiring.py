"""Build the workers the Lifecycle Manager calls, from the settings."""

from __future__ import annotations

import logging

from wms2.config import Settings
from wms2.core.workers import Workers
from wms2.db.session import Database

log = logging.getLogger(__name__)


def build_workers(settings: Settings, db: Database) -> Workers:
    """The engine-backed workers are added here as the issues that own them land."""
    return Workers()
