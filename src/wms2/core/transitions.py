"""The one place where statuses change.  Every request move is checked against the transition table
and recorded in the request's audit trail as ``{from, to, at, by, reason}``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from wms2.db.base import utcnow
from wms2.db.tables import DagHistoryRow, DagRow, ProcessingBlockRow, RequestRow, WorkflowRow
from wms2.domain.enums import BlockStatus, DAGStatus, RequestStatus, WorkflowStatus
from wms2.domain.transitions import append_audit, audit_entry, check_transition

SYSTEM = "wms2"


def transition(
    row: RequestRow, target: RequestStatus, by: str, reason: str, now: datetime | None = None
) -> None:
    """Move a request to ``target`` or raise :class:`IllegalTransition`; append the audit entry (a repeated
    cycle of entries is folded onto its first occurrence with a count, see :func:`append_audit`)."""
    current = RequestStatus(row.status)
    check_transition(f"request {row.name}", current, target)
    entry = audit_entry(current, target, by, reason)
    if now is not None:
        entry.at = now
    row.status = target
    row.status_since = entry.at
    row.status_transitions = append_audit(row.status_transitions, entry.as_json())
    if target == RequestStatus.queued:
        row.queued_at = entry.at


def record_creation(row: RequestRow, by: str, reason: str) -> None:
    """The first audit entry (``from`` is null)."""
    entry = audit_entry(None, RequestStatus(row.status), by, reason)
    row.status_since = entry.at
    row.status_transitions = [entry.as_json()]


def transition_workflow(row: WorkflowRow, target: WorkflowStatus) -> None:
    current = WorkflowStatus(row.status)
    if current == target:
        return
    check_transition(f"workflow of {row.request_name}", current, target)
    row.status = target


def transition_dag(session: Session, row: DagRow, target: DAGStatus, reason: str = "") -> None:
    current = DAGStatus(row.status)
    if current == target:
        return
    check_transition(f"DAG {row.id}", current, target)
    row.status = target
    if target in (DAGStatus.completed, DAGStatus.failed, DAGStatus.removed, DAGStatus.stopped, DAGStatus.partial):
        row.completed_at = utcnow()
    session.add(DagHistoryRow(dag_id=row.id, event="transition",
                              detail={"from": current.value, "to": target.value, "reason": reason}))


def transition_block(row: ProcessingBlockRow, target: BlockStatus) -> None:
    current = BlockStatus(row.status)
    if current == target:
        return
    check_transition(f"block {row.dataset} round {row.round}", current, target)
    row.status = target
