"""One lifecycle owner among many processes: a lease row with a fencing token (design notes: ownership).

The table ``lifecycle_lease`` holds one row.  A process owns the lifecycle while the row names it and
its lease has not expired; every takeover increases ``token`` (compare-and-swap on the old value, so
two contenders can never both win, on PostgreSQL and on SQLite).  The owner renews the lease from a
heartbeat thread; a stand-by takes over a lease that expired, was released, or whose holder process is
gone (same machine and PID namespace only).  Every transaction of the lifecycle re-reads the token
inside the transaction before it commits (``SELECT ... FOR SHARE`` on PostgreSQL, so a takeover waits
for it or it sees the takeover), and a stale owner's commit is refused with :class:`LeaseLost`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import event, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wms2.config import OwnershipSettings
from wms2.db.base import utcnow
from wms2.db.lease_tables import LEASE_ROW_ID, LifecycleLeaseRow
from wms2.db.session import Database
from wms2.procs import process_alive

log = logging.getLogger(__name__)

# The owner renews synchronously before a request when its heartbeat has not renewed for this fraction
# of the lease (a stalled heartbeat thread must not let the lease lapse under a working owner).
SYNC_RENEW_FRACTION = 0.5
# The epoch a never-used lease row carries: expired, released, token 0 (the first owner gets token 1).
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
LeaseState = Literal["live", "expired", "released", "dead"]


class LeaseLost(RuntimeError):
    """This process no longer owns the lifecycle (another took over, or it released the lease)."""


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return socket.gethostname()


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "-"


def node_key() -> str:
    """Same kernel boot and same PID namespace: only then does a holder's PID mean anything here."""
    return f"{_boot_id()}:{_pid_namespace()}"



@dataclass(frozen=True)
class Holder:
    """Who asks for the lease: one id per process start, plus where it runs (for humans and the
    same-machine liveness shortcut)."""

    holder: str
    host: str
    pid: int
    node_key: str
    command: str

    @classmethod
    def this_process(cls, command: str) -> Holder:
        return cls(holder=uuid.uuid4().hex, host=socket.gethostname(), pid=os.getpid(), node_key=node_key(),
                   command=command)


class LeaseInfo(BaseModel):
    """The lease as stored, and what it means now."""

    token: int
    holder: str
    host: str
    pid: int
    command: str
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    released_at: datetime | None
    state: LeaseState
    database_time: datetime

    def describe(self) -> str:
        return (f"host {self.host}, pid {self.pid}, since {self.acquired_at.isoformat(timespec='seconds')}"
                f" (`wms2 {self.command}`, lease token {self.token}, renewed"
                f" {max(0.0, (self.database_time - self.renewed_at).total_seconds()):.0f}s ago)")


class OwnerRefused(RuntimeError):
    """Another live process owns the lifecycle."""

    def __init__(self, current: LeaseInfo, single_process: bool) -> None:
        self.current = current
        self.single_process = single_process
        if single_process:
            hint = ("an SQLite database serves one process only: stop it first"
                    " (stand-by processes need PostgreSQL)")
        else:
            hint = "start with --standby to wait and take over when it stops"
        super().__init__(f"another lifecycle owner is running: {current.describe()}; {hint}")


def database_now(session: Session) -> datetime:
    """The database server's clock on PostgreSQL (one clock for every host); the local one on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        value = session.scalar(select(func.clock_timestamp()))
        if isinstance(value, datetime):
            return value
    return utcnow()


def bound_idle_lock(session: Session, seconds: float) -> None:
    """PostgreSQL: end this session if it sits idle inside this transaction longer than ``seconds``.

    A process paused (SIGSTOP) or cut off while it holds the lease row's lock would otherwise block every
    takeover until it resumes; the server now drops its transaction and the lock with it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {max(1, int(seconds * 1000))}"))


def lease_state(row: LifecycleLeaseRow, now: datetime, me: Holder | None) -> LeaseState:
    if row.released_at is not None:
        return "released"
    if row.expires_at <= now:
        return "expired"
    same_node = me is not None and row.node_key == me.node_key
    if same_node and row.holder != me.holder and not process_alive(row.pid):  # type: ignore[union-attr]
        return "dead"
    return "live"


def lease_info(row: LifecycleLeaseRow, now: datetime, me: Holder | None) -> LeaseInfo:
    return LeaseInfo(token=row.token, holder=row.holder, host=row.host, pid=row.pid, command=row.command,
                     acquired_at=row.acquired_at, renewed_at=row.renewed_at, expires_at=row.expires_at,
                     released_at=row.released_at, state=lease_state(row, now, me), database_time=now)


def read_lease(db: Database, me: Holder | None = None) -> LeaseInfo | None:
    """The current lease (None on a database where no process ever owned the lifecycle)."""
    me = me or Holder.this_process("status")
    with db.session() as session:
        row = session.get(LifecycleLeaseRow, LEASE_ROW_ID)
        if row is None or row.token == 0:
            return None
        return lease_info(row, database_now(session), me)


class Lease:
    """This process's claim on the lifecycle lease: acquire, renew, release, and fence commits."""

    def __init__(self, db: Database, settings: OwnershipSettings, command: str,
                 holder: Holder | None = None, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.settings = settings
        self.me = holder or Holder.this_process(command)
        self.single_process = db.engine.dialect.name == "sqlite"
        self.token: int | None = None
        self._monotonic = monotonic
        self._renewed: float = 0.0
        self._lost_reason: str | None = None
        self.on_lost: Callable[[], None] | None = None

    # -- acquisition -------------------------------------------------------------------------------
    @property
    def held(self) -> bool:
        return self.token is not None and self._lost_reason is None

    def try_acquire(self) -> LeaseInfo | None:
        """Take the lease if nobody live holds it; return None on success, else the live holder's lease."""
        self._ensure_row()
        with self.db.session() as session:
            row = session.get(LifecycleLeaseRow, LEASE_ROW_ID)
            assert row is not None
            now = database_now(session)
            info = lease_info(row, now, self.me)
            if info.state == "live" and row.holder != self.me.holder:
                return info
            bound_idle_lock(session, self.settings.lease_seconds)
            seen = row.token
            session.expunge(row)
            taken = session.execute(
                update(LifecycleLeaseRow)
                .where(LifecycleLeaseRow.id == LEASE_ROW_ID, LifecycleLeaseRow.token == seen)
                .values(token=seen + 1, holder=self.me.holder, host=self.me.host, pid=self.me.pid,
                        node_key=self.me.node_key, command=self.me.command, acquired_at=now, renewed_at=now,
                        expires_at=now + timedelta(seconds=self.settings.lease_seconds), released_at=None)
                .execution_options(synchronize_session=False)
            ).rowcount
        if taken != 1:  # another process took it between our read and our update
            current = read_lease(self.db, self.me)
            assert current is not None
            return current
        self.token, self._renewed, self._lost_reason = seen + 1, self._monotonic(), None
        if info.state != "released" and info.token > 0:
            log.warning("lifecycle lease taken over from %s (lease %s)", info.describe(), info.state)
        log.info("lifecycle lease acquired: token %d, %s pid %d", self.token, self.me.host, self.me.pid)
        return None

    def _ensure_row(self) -> None:
        """Create the (released, token 0) row once; a concurrent creator wins harmlessly."""
        with self.db.session() as session:
            if session.get(LifecycleLeaseRow, LEASE_ROW_ID) is not None:
                return
        try:
            with self.db.session() as session:
                session.add(LifecycleLeaseRow(
                    id=LEASE_ROW_ID, token=0, holder="-", host="-", pid=0, node_key="-", command="-",
                    acquired_at=NEVER, renewed_at=NEVER, expires_at=NEVER, released_at=NEVER))
        except IntegrityError:
            log.debug("lease row created concurrently")

    # -- while held --------------------------------------------------------------------------------
    def renew(self) -> None:
        """Extend the lease; :class:`LeaseLost` when another process took it over meanwhile."""
        token = self._require()
        with self.db.session() as session:
            bound_idle_lock(session, self.settings.lease_seconds)
            now = database_now(session)
            renewed = session.execute(
                update(LifecycleLeaseRow)
                .where(LifecycleLeaseRow.id == LEASE_ROW_ID, LifecycleLeaseRow.token == token,
                       LifecycleLeaseRow.holder == self.me.holder, LifecycleLeaseRow.released_at.is_(None))
                .values(renewed_at=now, expires_at=now + timedelta(seconds=self.settings.lease_seconds))
                .execution_options(synchronize_session=False)
            ).rowcount
        if renewed != 1:
            self._lose(f"lease token {token} was taken over: {self._current_description()}")
        self._renewed = self._monotonic()

    def release(self) -> None:
        """Give the lease up at once (a stand-by takes over at its next look)."""
        token, self.token = self.token, None
        if token is None or self._lost_reason is not None:
            return
        with self.db.session() as session:
            session.execute(
                update(LifecycleLeaseRow)
                .where(LifecycleLeaseRow.id == LEASE_ROW_ID, LifecycleLeaseRow.token == token,
                       LifecycleLeaseRow.holder == self.me.holder)
                .values(released_at=database_now(session))
                .execution_options(synchronize_session=False))
        log.info("lifecycle lease released (token %d)", token)

    def forget(self) -> None:
        """After a loss: drop the old token, so that the next :meth:`try_acquire` starts afresh."""
        self.token, self._lost_reason = None, None

    def assert_valid(self) -> None:
        """Before a unit of lifecycle work: raise :class:`LeaseLost` if the lease is gone; renew now if
        the heartbeat has not for a while."""
        self._require()
        if self._monotonic() - self._renewed > self.settings.lease_seconds * SYNC_RENEW_FRACTION:
            self.renew()

    def check(self, session: Session) -> None:
        """The fencing check, inside the caller's transaction, just before it commits."""
        token = self._require()
        bound_idle_lock(session, self.settings.lease_seconds)
        row = session.execute(
            select(LifecycleLeaseRow.token, LifecycleLeaseRow.holder, LifecycleLeaseRow.released_at)
            .where(LifecycleLeaseRow.id == LEASE_ROW_ID).with_for_update(read=True)
        ).one_or_none()
        if row is None or row.token != token or row.holder != self.me.holder or row.released_at is not None:
            self._lose(f"write refused: lease token {token} is no longer current"
                       f" (now {row.token if row is not None else 'none'})")

    def install(self, session: Session) -> None:
        """Fence every commit of ``session`` (the lifecycle's sessions)."""
        event.listen(session, "before_commit", self.check)

    # -- helpers -----------------------------------------------------------------------------------
    def _require(self) -> int:
        if self._lost_reason is not None:
            raise LeaseLost(self._lost_reason)
        if self.token is None:
            raise LeaseLost("this process does not hold the lifecycle lease")
        return self.token

    def _lose(self, reason: str) -> None:
        first = self._lost_reason is None
        self._lost_reason = reason
        if first:
            log.error("lifecycle lease lost: %s", reason)
            if self.on_lost is not None:
                self.on_lost()
        raise LeaseLost(reason)

    def _current_description(self) -> str:
        try:
            current = read_lease(self.db, self.me)
        except Exception as exc:  # only for the message; the loss itself is certain
            return f"(current holder unreadable: {type(exc).__name__})"
        return current.describe() if current is not None else "(no lease row)"


class Heartbeat:
    """Renews the lease every ``renew_seconds`` in its own thread until stopped or the lease is lost.
    A database error is logged and retried at the next beat (the lease only lapses after
    ``lease_seconds``; fencing keeps a lapsed owner from writing)."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wms2-lease-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self.lease.settings.renew_seconds + 5.0)

    def _run(self) -> None:
        while not self._stop.wait(self.lease.settings.renew_seconds):
            try:
                self.lease.renew()
            except LeaseLost:
                return
            except Exception as exc:  # a database outage: keep beating, fencing covers the rest
                log.warning("lifecycle lease renewal failed (%s): %s", type(exc).__name__,
                            str(exc).splitlines()[0] if str(exc) else "")
