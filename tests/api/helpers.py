"""Builders of database state for API tests (requests in given statuses, DAGs with files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.core.helpers import stepchain_doc
from wms2.core.transitions import SYSTEM, transition, transition_workflow
from wms2.db.tables import DagRow, RequestRow, WorkflowRow
from wms2.domain.enums import DAGStatus, RequestStatus, WorkflowStatus


def doc(fixtures_dir: Path, name: str, **extra: Any) -> dict[str, Any]:
    return stepchain_doc(fixtures_dir, name, **extra)


def make_active(api: Any, name: str, submit_dir: Path, cluster_id: int | None = 4242) -> tuple[int, int]:
    """Move a queued request to active with a running DAG (what the lifecycle would do); return ids."""
    with api.db.session() as s:
        row = s.scalar(select(RequestRow).where(RequestRow.name == name))
        wf = s.scalar(select(WorkflowRow).where(WorkflowRow.request_id == row.id))
        transition(row, RequestStatus.planning, SYSTEM, "test")
        transition_workflow(wf, WorkflowStatus.planning)
        dag = DagRow(workflow_id=wf.id, round=0, dag_file=str(submit_dir / "workflow.dag"),
                     submit_dir=str(submit_dir), cluster_id=cluster_id, schedd_name="local",
                     total_nodes=22, total_work_units=2, status=DAGStatus.ready,
                     node_counters={"wu_done": 1, "wu_total": 2})
        s.add(dag)
        s.flush()
        dag.status = DAGStatus.submitted
        wf.current_dag_id = dag.id
        transition(row, RequestStatus.active, SYSTEM, "test")
        transition_workflow(wf, WorkflowStatus.active)
        return wf.id, dag.id
