"""Runs the Lifecycle Manager only while this process holds the lease (``wms2.core.ownership``).

``wms2 run`` refuses to start while another live owner holds the lease, unless ``--standby`` (then it
waits and takes over); after losing the lease it stops (exit non-zero).  ``wms2 serve`` always waits
(stand-by) and falls back to stand-by after a loss.  On SQLite a second owner is always refused.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from wms2.config import OwnershipSettings
from wms2.core.db_outage import DB_UNAVAILABLE, DatabaseOutage
from wms2.core.lifecycle import CycleReport, LifecycleManager
from wms2.core.ownership import Heartbeat, Lease, LeaseInfo, LeaseLost, OwnerRefused

log = logging.getLogger(__name__)

Role = Literal["starting", "owner", "standby", "stopped"]


@dataclass
class LifecycleOwner:
    """``standby``: wait for the lease instead of refusing; ``step_down``: after losing the lease go back
    to stand-by (``serve``, ``run --standby``) instead of raising :class:`LeaseLost` (plain ``run``)."""

    lease: Lease
    settings: OwnershipSettings
    standby: bool = False
    step_down: bool = False
    role: Role = "starting"
    seen: LeaseInfo | None = None  # the live holder a stand-by waits behind
    takeovers: int = 0
    on_standby: Callable[[LeaseInfo], None] | None = None  # told when it starts waiting behind a holder
    _outage: DatabaseOutage | None = field(default=None, repr=False)

    def acquire(self, stop: threading.Event) -> bool:
        """Hold the lease: True once held, False if ``stop`` was set while waiting.  Without stand-by
        (and always on SQLite) a live holder raises :class:`OwnerRefused`."""
        outage = self._outage or DatabaseOutage(self.settings, self.lease.db.url)
        self._outage = outage
        while not stop.is_set():
            try:
                current = self.try_once()
            except DB_UNAVAILABLE as exc:
                if stop.wait(outage.failed(exc, datetime.now(UTC))):
                    return False
                continue
            if current is None:
                return True
            if not self.standby or self.lease.single_process:
                raise OwnerRefused(current, self.lease.single_process)
            if self.role != "standby" or self.seen is None or self.seen.holder != current.holder:
                log.info("stand-by: the lifecycle is owned by %s", current.describe())
                if self.on_standby is not None:
                    self.on_standby(current)
            self.role, self.seen = "standby", current
            stop.wait(self.settings.standby_poll_seconds)
        return False

    def try_once(self) -> LeaseInfo | None:
        """One attempt: None when this process now holds the lease, else the live holder's lease."""
        current = self.lease.try_acquire()
        if current is None:
            self.role, self.seen = "owner", None
            self.takeovers += 1
        return current

    def run(self, manager: LifecycleManager, stop: threading.Event,
            on_cycle: Callable[[CycleReport], None] | None = None) -> None:
        """Own (or wait for) the lifecycle until ``stop``; releases the lease on the way out."""
        try:
            while not stop.is_set():
                if not self.lease.held and not self.acquire(stop):
                    return
                try:
                    self._own(manager, stop, on_cycle)
                except LeaseLost as exc:
                    self.role = "standby"
                    if not self.step_down:
                        raise
                    log.error("lifecycle ownership lost (%s); back to stand-by", exc)
                    self.lease.forget()
        finally:
            self.role = "stopped"
            if self.lease.held:  # stopped (or failed) while owning: hand over at once
                self.release()

    def run_once(self, manager: LifecycleManager) -> CycleReport:
        """One fenced cycle (``wms2 run --once``); the lease must be held."""
        heartbeat = Heartbeat(self.lease)
        manager.fence = self.lease
        heartbeat.start()
        try:
            return manager.run_cycle()
        finally:
            heartbeat.stop()
            manager.fence = None
            self.release()

    def _own(self, manager: LifecycleManager, stop: threading.Event,
             on_cycle: Callable[[CycleReport], None] | None) -> None:
        heartbeat = Heartbeat(self.lease)
        self.lease.on_lost = manager.wake
        manager.fence = self.lease
        heartbeat.start()
        try:
            manager.run_forever(stop, on_cycle)
        finally:
            heartbeat.stop()
            manager.fence = None

    def release(self) -> None:
        try:
            self.lease.release()
        except DB_UNAVAILABLE as exc:
            log.warning("could not release the lifecycle lease (it expires by itself): %s",
                        type(exc).__name__)

    def view(self) -> dict[str, Any]:
        """This process's part, for ``GET /api/v1/lifecycle``."""
        return {"role": self.role, "holder": self.lease.me.holder, "host": self.lease.me.host,
                "pid": self.lease.me.pid, "token": self.lease.token if self.lease.held else None,
                "takeovers": self.takeovers}
