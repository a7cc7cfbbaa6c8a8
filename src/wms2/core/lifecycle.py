"""The Request Lifecycle Manager (design §6.1): the only owner of request status (invariant 4).

One cycle loads every non-terminal request and evaluates each in isolation, in its own transaction:
an exception in one request is logged with its traceback, counted, and does not stop the cycle.
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
from sqlalchemy.orm import Session, defer

from wms2.config import Settings
from wms2.core import handlers
from wms2.core.actions import effective_max_active_dags
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
_DEFERRED_REQUEST_COLUMNS = (defer(RequestRow.document), defer(RequestRow.spec))


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
        for request_id, name in ids:
            # Between two requests the cycle yields: to the API requests in flight (wms2 serve, bounded:
            # wms2.core.foreground), or at least to any thread waiting for the interpreter.
            if self.foreground is not None:
                self.foreground.yield_to_foreground()
            else:
                time.sleep(0)
            report.evaluated += 1
            try:
                self._check_fence()
                report.transitions += self._evaluate(request_id, admission, now)
            except LeaseLost:
                raise
            except Exception as exc:  # one request never stops the cycle
                log.exception("lifecycle: request %s raised", name)
                report.errors.append({"request": name, "error": f"{type(exc).__name__}: {exc}",
                                      "traceback": traceback.format_exc(limit=20)})
        report.duration_s = time.monotonic() - started
        self._record(report)
        self.last_report = report
        return report

    def _evaluation_order(self, session) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
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
        return [(r.id, r.name) for r in [*others, *queued]]

    def _evaluate(self, request_id: int, admission: AdmissionRound, now: datetime) -> int:
        with self._session() as session:
            # The ReqMgr2 document and the spec (kilobytes of JSON each) are loaded only by the handlers
            # that read them (planning, validation): not decoded for every active request every cycle.
            request = session.get(RequestRow, request_id, options=_DEFERRED_REQUEST_COLUMNS)
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
