"""Explicit transition tables for requests, workflows, DAGs and blocks.

Only the Lifecycle Manager applies request transitions (invariant 4); these tables are what it may do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel

from wms2.domain.enums import BlockStatus, DAGStatus, RequestStatus, WorkflowStatus

R = RequestStatus
W = WorkflowStatus
D = DAGStatus
B = BlockStatus

REQUEST_TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    R.new: frozenset({R.submitted, R.aborted}),
    R.submitted: frozenset({R.queued, R.failed, R.aborted}),
    R.queued: frozenset({R.planning, R.active, R.held, R.failed, R.aborted, R.completed}),
    R.planning: frozenset({R.active, R.queued, R.held, R.failed, R.aborted, R.completed}),
    R.active: frozenset({R.queued, R.completed, R.partial, R.stopping, R.held, R.failed, R.aborted}),
    R.partial: frozenset({R.resubmitting, R.held, R.failed, R.aborted}),
    R.held: frozenset({R.queued, R.failed, R.aborted}),
    R.stopping: frozenset({R.resubmitting, R.active, R.held, R.failed, R.aborted}),
    R.resubmitting: frozenset({R.queued, R.failed, R.aborted}),
    R.completed: frozenset(),
    R.failed: frozenset(),
    R.aborted: frozenset(),
}

WORKFLOW_TRANSITIONS: dict[WorkflowStatus, frozenset[WorkflowStatus]] = {
    W.new: frozenset({W.planning, W.failed, W.aborted, W.completed}),
    W.planning: frozenset({W.active, W.new, W.failed, W.aborted, W.completed}),
    W.active: frozenset({W.new, W.completed, W.partial, W.stopping, W.failed, W.aborted}),
    W.partial: frozenset({W.resubmitting, W.failed, W.aborted, W.new}),
    W.stopping: frozenset({W.resubmitting, W.active, W.failed, W.aborted}),
    W.resubmitting: frozenset({W.new, W.planning, W.failed, W.aborted}),
    W.completed: frozenset(),
    W.failed: frozenset(),
    W.aborted: frozenset(),
}

DAG_TRANSITIONS: dict[DAGStatus, frozenset[DAGStatus]] = {
    D.planning: frozenset({D.ready, D.failed}),
    D.ready: frozenset({D.submitted, D.failed, D.removed}),
    D.submitted: frozenset({D.running, D.completed, D.partial, D.failed, D.removed, D.halted, D.stopped}),
    D.running: frozenset({D.completed, D.partial, D.failed, D.removed, D.halted, D.stopped}),
    D.halted: frozenset({D.running, D.removed, D.stopped, D.failed}),
    D.partial: frozenset({D.failed}),
    D.completed: frozenset(),
    D.failed: frozenset(),
    D.removed: frozenset(),
    D.stopped: frozenset(),
}

BLOCK_TRANSITIONS: dict[BlockStatus, frozenset[BlockStatus]] = {
    B.open: frozenset({B.complete, B.failed, B.invalidated}),
    B.complete: frozenset({B.archived, B.failed, B.invalidated}),
    B.archived: frozenset({B.invalidated}),
    B.failed: frozenset({B.invalidated}),
    B.invalidated: frozenset(),
}

_TABLES: dict[type[StrEnum], dict] = {
    RequestStatus: REQUEST_TRANSITIONS,
    WorkflowStatus: WORKFLOW_TRANSITIONS,
    DAGStatus: DAG_TRANSITIONS,
    BlockStatus: BLOCK_TRANSITIONS,
}

S = TypeVar("S", bound=StrEnum)


class IllegalTransition(ValueError):
    """A status change the transition table does not allow."""

    def __init__(self, entity: str, current: StrEnum, target: StrEnum) -> None:
        allowed = sorted(str(s) for s in _TABLES[type(current)][current])
        super().__init__(
            f"{entity}: illegal transition {current.value!s} -> {target.value!s}"
            f" (allowed from {current.value}: {', '.join(allowed) or 'none, it is terminal'})"
        )
        self.entity = entity
        self.current = current
        self.target = target


class AuditEntry(BaseModel):
    """One line of a request's audit trail: ``{from, to, at, by, reason}``."""

    from_status: str | None
    to_status: str
    at: datetime
    by: str
    reason: str

    def as_json(self) -> dict[str, str | None]:
        return {
            "from": self.from_status,
            "to": self.to_status,
            "at": self.at.isoformat(),
            "by": self.by,
            "reason": self.reason,
        }


def check_transition(entity: str, current: S, target: S) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> target`` is in the table."""
    table = _TABLES[type(current)]
    if type(target) is not type(current):
        raise TypeError(f"{entity}: cannot move a {type(current).__name__} to a {type(target).__name__}")
    if target not in table[current]:
        raise IllegalTransition(entity, current, target)


def is_allowed(current: S, target: S) -> bool:
    return target in _TABLES[type(current)][current]


def audit_entry(current: StrEnum | None, target: StrEnum, by: str, reason: str) -> AuditEntry:
    return AuditEntry(
        from_status=current.value if current is not None else None,
        to_status=target.value,
        at=datetime.now(UTC),
        by=by,
        reason=reason,
    )


# A condition that repeats is recorded once (issue 12): the longest repeating run of audit entries that is
# folded onto its first occurrence.  4 covers a queued -> planning -> queued deferral whose reason
# alternates between two values; longer cycles do not occur in the lifecycle.
MAX_FOLDED_CYCLE = 4
_IDENTITY = ("from", "to", "by", "reason")


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in _IDENTITY)


def append_audit(trail: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The trail with ``entry`` appended, folding repetitions.

    When the last ``k`` entries (``k <= MAX_FOLDED_CYCLE``) repeat the ``k`` before them (same from, to,
    by and reason), the newer ones are dropped and the older ones keep their first ``at`` and gain
    ``count`` (how many times the entry happened) and ``last_at`` (the newest time).  A request that goes
    queued -> planning -> queued every cycle thus keeps two entries, however long it loops.  The fold
    happens only once a cycle is complete, so the trail's order stays true."""
    new = [*trail, entry]
    for k in range(1, MAX_FOLDED_CYCLE + 1):
        if len(new) < 2 * k:
            break
        older, newer = new[-2 * k:-k], new[-k:]
        if all(_same(a, b) for a, b in zip(older, newer, strict=True)):
            folded = [{**a, "count": int(a.get("count", 1)) + int(b.get("count", 1)),
                       "last_at": b.get("last_at", b["at"])} for a, b in zip(older, newer, strict=True)]
            return [*new[:-2 * k], *folded]
    return new
