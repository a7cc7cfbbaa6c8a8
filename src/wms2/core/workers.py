"""Interfaces of the stateless workers the Lifecycle Manager calls (design §4).

Each worker does its job and returns a typed outcome; only the Lifecycle Manager turns outcomes into
status transitions (invariant 4).  Workers are plugged in by the service wiring; a status whose
worker is not configured simply waits (and stuck detection reports it).
"""

from __future__ import annotations

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


class LaunchOutcome(StrEnum):
    submitted = "submitted"  # a DAG was submitted: the request becomes active
    no_work_left = "no_work_left"  # nothing to plan: the workflow can finish
    deferred = "deferred"  # cannot plan now (e.g. input not yet available): stay queued


@dataclass(frozen=True)
class LaunchResult:
    outcome: LaunchOutcome
    reason: str
    dag_id: int | None = None


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


@dataclass
class Workers:
    launcher: RoundLauncher | None = None
    engine: Engine | None = None
    extra_handlers: dict[str, StatusHandler] = field(default_factory=dict)
