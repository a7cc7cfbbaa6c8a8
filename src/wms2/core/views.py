"""Read-only views of requests for the CLI and the API (plain JSON-able dicts)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wms2.db.tables import AlertRow, DagRow, ProcessingBlockRow, RequestRow, WorkflowRow


def request_summary(row: RequestRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "status": str(row.status),
        "priority": row.priority,
        "urgent": row.urgent,
        "request_type": row.request_type,
        "requestor": row.requestor,
        "campaign": row.campaign,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def request_detail(session: Session, row: RequestRow) -> dict[str, Any]:
    detail = request_summary(row)
    detail.update({
        "input_dataset": row.input_dataset,
        "output_datasets": row.output_datasets,
        "adaptive": row.adaptive,
        "processing_version": row.processing_version,
        "production_steps": row.production_steps,
        "previous_version_request": row.previous_version_request,
        "superseded_by_request": row.superseded_by_request,
        "cleanup_policy": str(row.cleanup_policy),
        "overrides": row.overrides,
        "spec": row.spec,
        "status_transitions": row.status_transitions,
        "alerts": [
            {"kind": a.kind, "reason": a.reason, "at": a.created_at.isoformat()}
            for a in session.scalars(select(AlertRow).where(AlertRow.request_name == row.name)
                                     .order_by(AlertRow.id))
        ],
    })
    wf = session.scalar(select(WorkflowRow).where(WorkflowRow.request_id == row.id))
    if wf is not None:
        detail["workflow"] = {
            "id": wf.id,
            "status": str(wf.status),
            "current_round": wf.current_round,
            "next_first_event": wf.next_first_event,
            "events_planned": wf.events_planned,
            "events_produced": wf.events_produced,
            "splitting_algo": wf.splitting_algo,
            "adaptive_params": wf.adaptive_params,
            "current_dag_id": wf.current_dag_id,
        }
        detail["rounds"] = rounds_table(session, wf.id)
        detail["blocks"] = blocks_table(session, wf.id)
    return detail


def blocks_table(session: Session, workflow_id: int) -> list[dict[str, Any]]:
    return [
        {"round": b.round, "dataset": b.dataset, "status": str(b.status), "work_units": b.total_work_units,
         "work_units_done": len(b.completed_work_units), "catalog_block": b.catalog_block_name}
        for b in session.scalars(select(ProcessingBlockRow).where(ProcessingBlockRow.workflow_id == workflow_id)
                                 .order_by(ProcessingBlockRow.round, ProcessingBlockRow.dataset))
    ]


def rounds_table(session: Session, workflow_id: int) -> list[dict[str, Any]]:
    dags = session.scalars(select(DagRow).where(DagRow.workflow_id == workflow_id).order_by(DagRow.id))
    return [
        {
            "round": d.round,
            "dag_id": d.id,
            "parent_dag_id": d.parent_dag_id,
            "status": str(d.status),
            "work_units": d.total_work_units,
            "work_units_done": len(d.completed_work_units),
            "nodes": d.total_nodes,
            "params": d.round_params,
            "metrics": d.round_metrics,
            "submitted_at": d.submitted_at.isoformat() if d.submitted_at else None,
            "completed_at": d.completed_at.isoformat() if d.completed_at else None,
        }
        for d in dags
    ]
