"""Interfaces of the stateless workers the Lifecycle Manager calls (design §4).

Each worker does its job and returns a typed outcome; only the Lifecycle Manager turns outcomes into
status transitions (invariant 4).  Workers are plugged in by the service wiring; a status whose
worker is not configured simply waits (and stuck detection reports it).
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.orm import Session

from wms2.config import Settings
from wms2.db.tables import RequestRow, WorkflowRow

if TYPE_CHECKING:
    from wms2.core.admission import AdmissionRound
    from wms2.engines.base import Engine

log = logging.getLogger(__name__)


class LaunchOutcome(StrEnum):
    submitted = "submitted"  # a DAG was submitted: the request becomes active
    no_work_left = "no_work_left"  # nothing to plan: the workflow can finish
    deferred = "deferred"  # cannot plan now (e.g. input not yet available): stay queued
    held = "held"  # cannot go on without an operator (the reason says why and what to check)


@dataclass(frozen=True)
class LaunchResult:
    outcome: LaunchOutcome
    reason: str
    dag_id: int | None = None
    # deferred because an external step legitimately takes long (tape archival): never held for it
    expected_wait: bool = False


class RoundLauncher(Protocol):
    """Plans the next round (or picks a ready rescue DAG) and submits it."""

    def launch(self, ctx: HandlerContext, request: RequestRow, workflow: WorkflowRow) -> LaunchResult: ...


class StatusHandler(Protocol):
    def __call__(self, ctx: HandlerContext, request: RequestRow) -> None: ...


@dataclass
class HandlerContext:
    """What a handler sees during one request's evaluation."""

    session: Session
    settings: Settings
    now: datetime
    admission: AdmissionRound
    workers: Workers

    def commit(self) -> None:
        """Make progress visible (e.g. ``planning``) before a long step; the session stays usable."""
        self.session.commit()


class SessionSource(Protocol):
    """Where a cycle task opens its transactions: the Lifecycle Manager hands it sessions fenced by the
    ownership lease, so a stale owner's task cannot write either."""

    def session(self) -> AbstractContextManager[Session]: ...


class CycleTask(Protocol):
    """A stateless worker the Lifecycle Manager calls once per cycle, before it evaluates the requests
    (for example the ReqMgr2 sync).  It opens its own transactions; request status changes go through
    :mod:`wms2.core.actions` / :mod:`wms2.core.transitions` as everywhere else."""

    name: str

    def run_cycle(self, db: SessionSource, settings: Settings, now: datetime) -> None: ...


@dataclass
class Workers:
    launcher: RoundLauncher | None = None
    engine: Engine | None = None
    extra_handlers: dict[str, StatusHandler] = field(default_factory=dict)
    cycle_tasks: list[CycleTask] = field(default_factory=list)

    def close(self) -> None:
        """Stop what the workers started (the DAG Monitor's status reader); idempotent."""
        for handler in self.extra_handlers.values():
            close = getattr(handler, "close", None)
            if callable(close):
                close()

    def run_cycle_tasks(self, db: SessionSource, settings: Settings, now: datetime) -> list[dict[str, str]]:
        """Run every per-cycle task; a task's exception is logged and returned, never raised."""
        errors: list[dict[str, str]] = []
        for task in self.cycle_tasks:
            try:
                task.run_cycle(db, settings, now)
            except Exception as exc:  # one task never stops the cycle (like one request)
                log.exception("lifecycle: cycle task %s raised", task.name)
                errors.append({"request": f"<{task.name}>", "error": f"{type(exc).__name__}: {exc}"})
        return errors
