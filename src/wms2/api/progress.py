"""Progress of a workflow: percent done, measured throughput and ETA (``GET /workflows/{id}/status``).

Percent done is the completed fraction the lifecycle itself uses for production steps (events for
generation, processed files for input-driven work).  Throughput is measured, never estimated from
hints: the fraction completed since the first DAG was submitted, per hour; the ETA is the remaining
fraction at that rate.  Before anything completed the ETA is unknown (None).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wms2.core.rounds import completed_fraction
from wms2.core.views import blocks_table, rounds_table
from wms2.db.tables import DagRow, RequestRow, WorkflowRow
from wms2.domain.enums import WorkflowStatus

SECONDS_PER_HOUR = 3600.0


def workflow_progress(session: Session, workflow: WorkflowRow, now: datetime) -> dict[str, Any]:
    request = session.get(RequestRow, workflow.request_id)
    assert request is not None, f"workflow {workflow.id} has no request"
    status = WorkflowStatus(workflow.status)
    fraction = 1.0 if status == WorkflowStatus.completed else min(1.0, completed_fraction(session, request, workflow))
    started = session.scalar(select(func.min(DagRow.submitted_at)).where(DagRow.workflow_id == workflow.id))
    rate_per_s: float | None = None
    if started is not None and fraction > 0:
        elapsed = (now - started).total_seconds()
        if elapsed > 0:
            rate_per_s = fraction / elapsed
    eta_s: float | None = None
    if status == WorkflowStatus.completed:
        eta_s = 0.0
    elif rate_per_s:
        eta_s = (1.0 - fraction) / rate_per_s
    current = None
    if workflow.current_dag_id is not None:
        dag = session.get(DagRow, workflow.current_dag_id)
        if dag is not None:
            current = {"dag_id": dag.id, "round": dag.round, "status": str(dag.status),
                       "work_units": dag.total_work_units, "work_units_done": len(dag.completed_work_units),
                       "node_counters": dag.node_counters}
    return {
        "workflow_id": workflow.id,
        "request_name": workflow.request_name,
        "status": status,
        "progress_percent": round(100.0 * fraction, 3),
        "measured_since": started,
        "throughput_per_hour": None if rate_per_s is None else 100.0 * rate_per_s * SECONDS_PER_HOUR,
        "eta_seconds": eta_s,
        "eta": None if eta_s is None else now + timedelta(seconds=eta_s),
        "current_dag": current,
        "rounds": rounds_table(session, workflow.id),
        "blocks": blocks_table(session, workflow.id),
    }
