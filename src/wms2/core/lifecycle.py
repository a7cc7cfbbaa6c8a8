"""The Request Lifecycle Manager (design §6.1): the only owner of request status (invariant 4).

One cycle loads every non-terminal request and evaluates each in isolation: an exception in one request
is logged with its traceback, counted, and does not stop the cycle.  Each request has its own
transaction, except the ``active`` ones (the hundreds of running DAGs polled every cycle): consecutive
active requests are evaluated in batches of ``lifecycle.batch_size``, one transaction per batch (fenced
by the lease at its commit, like every transaction of the lifecycle) with a SAVEPOINT per request, so a
failing request rolls back only its own writes; the batch's common rows are read in one query each
(``active.prefetch_active``).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from wms2.config import Settings
from wms2.core import handlers
from wms2.core.actions import effective_max_active_dags
from wms2.core.active import DEFERRED_REQUEST_COLUMNS, ActiveHandler, prefetch_active
from wms2.core.admission import AdmissionRound
from wms2.core.db_outage import DB_UNAVAILABLE, DatabaseOutage
from wms2.core.foreground import ForegroundActivity
from wms2.core.ownership import LeaseLost
from wms2.core.stuck import check_stuck
from wms2.core.workers import HandlerContext, StatusHandler, Workers
from wms2.db.session import Database
from wms2.db.tables import LifecycleCycleRow, RequestRow
from wms2.domain.enums import LIFECYCLE_STATUSES, RequestStatus

log = logging.getLogger(__name__)

CYCLE_HISTORY_KEPT = 1000
_DEFERRED_REQUEST_COLUMNS = DEFERRED_REQUEST_COLUMNS  # the name earlier tests import
Evaluation = tuple[int, str, RequestStatus]  # request id, name, status when the cycle started


@dataclass
class CycleReport:
    started_at: datetime
    duration_s: float = 0.0
    evaluated: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    transitions: int = 0


class Fence(Protocol):
    """The lifecycle lease as the manager sees it (``wms2.core.ownership.Lease``)."""

    def assert_valid(self) -> None: ...

    def install(self, session: Session) -> None: ...


class OwnershipView(Protocol):
    """Who this process is in the lifecycle ownership (``wms2.core.owner.LifecycleOwner``)."""

    def view(self) -> dict[str, object]: ...


def default_handlers() -> dict[RequestStatus, StatusHandler]:
    return {
        RequestStatus.submitted: handlers.handle_submitted,
        RequestStatus.queued: handlers.handle_queued,
        RequestStatus.planning: handlers.handle_planning,
        RequestStatus.resubmitting: handlers.handle_resubmitting,
        RequestStatus.held: handlers.handle_waiting,
    }


def begin_batch(session: Session) -> None:
    """Open the batch's transaction for its savepoints.  PostgreSQL: as usual.  SQLite: ``BEGIN
    IMMEDIATE`` now.  pysqlite would otherwise begin only at the first write, so a SAVEPOINT before it
    would become the outermost transaction and its RELEASE would commit.  IMMEDIATE also takes the write
    lock at once: a deferred transaction that read first could not write after another connection
    did (SQLite refuses to upgrade a stale snapshot, with no busy wait).  WAL readers (the API) are not
    blocked."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class LifecycleManager:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        workers: Workers | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.workers = workers or Workers()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.handlers: dict[RequestStatus, StatusHandler] = default_handlers()
        for status, handler in self.workers.extra_handlers.items():
            self.handlers[RequestStatus(status)] = handler
        self._wake = threading.Event()
        self.last_report: CycleReport | None = None
        # Set while this process owns the lifecycle: every session is fenced by the lease's token.
        self.fence: Fence | None = None
        self.ownership: OwnershipView | None = None
        self.outage = DatabaseOutage(settings.ownership, db.url)
        # Set by the API in the same process (wms2 serve): its requests in flight, which the cycle lets
        # finish between two request evaluations.
        self.foreground: ForegroundActivity | None = None

    def close(self) -> None:
        """Stop the workers' helper processes (the status reader); idempotent, the manager stays usable
        (a later batch starts a new reader)."""
        self.workers.close()

    def session(self) -> AbstractContextManager[Session]:
        """A transaction fenced by the ownership lease (the :class:`SessionSource` of the cycle tasks)."""
        return self._session()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self.db.session() as session:
            if self.fence is not None:
                self.fence.install(session)
            yield session

    def _check_fence(self) -> None:
        if self.fence is not None:
            self.fence.assert_valid()

    # -- one cycle ---------------------------------------------------------------------------------
    def run_cycle(self) -> CycleReport:
        started = time.monotonic()
        now = self.clock()
        report = CycleReport(started_at=now)
        self._check_fence()
        # cycle tasks (e.g. the ReqMgr2 sync) get this manager's fenced sessions, like the handlers
        report.errors += self.workers.run_cycle_tasks(self, self.settings, now)
        with self._session() as session:
            ids = self._evaluation_order(session)
            admission = AdmissionRound.build(session, effective_max_active_dags(session, self.settings))
        if self.foreground is not None:
            self.foreground.start_cycle()
        for group in self._groups(ids):
            # Between two requests (or batches) the cycle yields: to the API requests in flight (wms2
            # serve, bounded: wms2.core.foreground), or at least to any thread waiting for the interpreter.
            if self.foreground is not None:
                self.foreground.yield_to_foreground()
            else:
                time.sleep(0)
            if len(group) == 1:
                request_id, name, _ = group[0]
                report.evaluated += 1
                try:
                    self._check_fence()
                    report.transitions += self._evaluate(request_id, admission, now)
                except LeaseLost:
                    raise
                except Exception as exc:  # one request never stops the cycle
                    self._failed(report, name, exc)
            else:
                self._evaluate_batch(group, admission, now, report)
        report.duration_s = time.monotonic() - started
        self._record(report)
        self.last_report = report
        return report

    @staticmethod
    def _failed(report: CycleReport, name: str, exc: Exception) -> None:
        log.error("lifecycle: request %s raised", name, exc_info=exc)
        report.errors.append({"request": name, "error": f"{type(exc).__name__}: {exc}",
                              "traceback": "".join(traceback.format_exception(exc, limit=20))})

    def _groups(self, ids: list[Evaluation]) -> Iterator[list[Evaluation]]:
        """The evaluation order cut into units of work: runs of consecutive ``active`` requests in batches
        of ``batch_size``, every other request alone."""
        size = self.settings.lifecycle.batch_size
        batch: list[Evaluation] = []
        for item in ids:
            if item[2] == RequestStatus.active and size > 1:
                batch.append(item)
                if len(batch) >= size:
                    yield batch
                    batch = []
                continue
            if batch:
                yield batch
                batch = []
            yield [item]
        if batch:
            yield batch

    def _evaluation_order(self, session) -> list[Evaluation]:  # type: ignore[no-untyped-def]
        """Non-queued requests first (they free slots), then the queue in admission order."""
        rows = session.execute(
            select(RequestRow.id, RequestRow.name, RequestRow.status, RequestRow.urgent,
                   RequestRow.priority, RequestRow.queued_at)
            .where(RequestRow.status.in_([s.value for s in LIFECYCLE_STATUSES]))
        ).all()
        others = sorted((r for r in rows if r.status != RequestStatus.queued), key=lambda r: r.id)
        queued = sorted(
            (r for r in rows if r.status == RequestStatus.queued),
            key=lambda r: (not r.urgent, -r.priority, r.queued_at or self.clock(), r.id),
        )
        return [(r.id, r.name, RequestStatus(r.status)) for r in [*others, *queued]]

    def _evaluate(self, request_id: int, admission: AdmissionRound, now: datetime) -> int:
        with self._session() as session:
            return self._evaluate_in(session, request_id, admission, now)

    def _evaluate_batch(self, group: list[Evaluation], admission: AdmissionRound, now: datetime,
                        report: CycleReport) -> None:
        """One transaction for the batch, a SAVEPOINT per request: a request that raises rolls back to
        its savepoint (its writes only) and the others commit; the lease fences the batch's commit.

        The lease is asserted once, before the batch's transaction opens: its synchronous renewal writes
        the lease row from another connection, which on SQLite would wait for the write lock this batch
        holds.  A lease lost during the batch is caught by the fencing check at its commit."""
        transitions, evaluated = 0, []
        try:
            self._check_fence()
        except LeaseLost:
            raise
        except Exception as exc:  # e.g. the lease's renewal met a database error: no request evaluated
            report.evaluated += len(group)
            for _, name, _ in group:
                self._failed(report, name, exc)
            return
        active = self.handlers.get(RequestStatus.active)
        batched = active if isinstance(active, ActiveHandler) else None
        try:
            with self._session() as session:
                begin_batch(session)
                found = prefetch_active(session, [request_id for request_id, _, _ in group])
                if batched is not None:  # its engine queries, then DAGMan's files to the status reader
                    batched.begin_batch(found)
                for request_id, name, _ in group:
                    time.sleep(0)  # any thread waiting for the interpreter (API reads) gets it
                    report.evaluated += 1
                    try:
                        with session.begin_nested():
                            transitions += self._evaluate_in(session, request_id, admission, now)
                        evaluated.append(name)
                    except LeaseLost:
                        raise
                    except Exception as exc:  # one request never stops the batch
                        self._failed(report, name, exc)
        except LeaseLost:
            raise
        except Exception as exc:  # the batch's commit failed: none of its evaluations was kept
            for name in evaluated:
                self._failed(report, name, exc)
            return
        finally:
            if batched is not None:  # nothing prepared for this batch is used by a later poll
                batched.end_batch()
        report.transitions += transitions

    def _evaluate_in(self, session: Session, request_id: int, admission: AdmissionRound, now: datetime) -> int:
        # a batch loaded the request already (Session.get with options would select it again)
        request = session.identity_map.get(identity_key(RequestRow, request_id))
        if request is None:
            request = session.get(RequestRow, request_id, options=DEFERRED_REQUEST_COLUMNS)
        if request is None or RequestStatus(request.status) not in LIFECYCLE_STATUSES:
            return 0
        before = RequestStatus(request.status)
        ctx = HandlerContext(session=session, settings=self.settings, now=now, admission=admission,
                             workers=self.workers)
        handler = self.handlers.get(before)
        if handler is not None:
            handler(ctx, request)
        if RequestStatus(request.status) == before:
            check_stuck(ctx, request)
        return int(RequestStatus(request.status) != before)

    def _record(self, report: CycleReport) -> None:
        with self._session() as session:
            session.add(LifecycleCycleRow(
                started_at=report.started_at, duration_s=report.duration_s,
                requests_evaluated=report.evaluated, errors=len(report.errors),
                error_detail=[{k: v for k, v in e.items() if k != "traceback"} for e in report.errors][:50],
            ))
            session.flush()
            newest = session.scalar(select(LifecycleCycleRow.id).order_by(LifecycleCycleRow.id.desc())
                                    .offset(CYCLE_HISTORY_KEPT).limit(1))
            if newest is not None:
                session.execute(delete(LifecycleCycleRow).where(LifecycleCycleRow.id <= newest))

    # -- loop --------------------------------------------------------------------------------------
    def wake(self) -> None:
        """Run the next cycle now (API actions call this)."""
        self._wake.set()

    def run_forever(self, stop: threading.Event, on_cycle: Callable[[CycleReport], None] | None = None) -> None:
        """Cycle until ``stop``; an unreachable database is retried with backoff (never ends the loop);
        :class:`LeaseLost` ends it."""
        while not stop.is_set():
            try:
                report = self.run_cycle()
                if self.outage.since is not None:
                    with self._session() as session:
                        self.outage.recovered(session, self.clock())
            except DB_UNAVAILABLE as exc:
                wait = self.outage.failed(exc, self.clock())
            else:
                wait = self.settings.lifecycle.cycle_seconds
                if on_cycle is not None:
                    on_cycle(report)
            self._wake.wait(timeout=wait)
            self._wake.clear()
