"""``/dags``: list, get, live nodes."""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sqlalchemy import func, select

from wms2.api.dag_nodes import dag_logs, dag_nodes
from wms2.api.deps import Ctx, DbSession, Page, Paging, Viewer
from wms2.api.models import DagDetail, DagLogs, DagNodes, DagSummary, PageOf
from wms2.core.actions import NotFound
from wms2.db.tables import DagHistoryRow, DagRow
from wms2.domain.enums import DAGStatus

router = APIRouter(prefix="/dags", tags=["dags"])
SUMMARY_COLUMNS = (DagRow.workflow_id, DagRow.round, DagRow.status, DagRow.parent_dag_id, DagRow.rescue_kind,
                   DagRow.cluster_id, DagRow.schedd_name, DagRow.total_nodes, DagRow.total_work_units,
                   DagRow.node_counters, DagRow.created_at, DagRow.submitted_at, DagRow.completed_at)
IdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
HISTORY_SHOWN = 50  # newest DAG history events in GET /dags/{id}
MAX_LOG_LINES = 5000


def _get(session: Any, dag_id: int) -> DagRow:
    row = session.get(DagRow, dag_id)
    if row is None:
        raise NotFound("DAG", dag_id)
    return row


@router.get("", response_model=PageOf[DagSummary])
def list_dags(
    ctx: Ctx, session: DbSession, _: Viewer, page: Paging,
    status_: Annotated[DAGStatus | None, Query(alias="status")] = None,
    workflow_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> dict[str, Any]:
    return ctx.cache.get(("dags", page.limit, page.offset, status_, workflow_id),
                         lambda: _list_dags(session, page, status_, workflow_id))


def _list_dags(session: Any, page: Page, status_: DAGStatus | None, workflow_id: int | None) -> dict[str, Any]:
    conds = []
    if status_ is not None:
        conds.append(DagRow.status == status_)
    if workflow_id is not None:
        conds.append(DagRow.workflow_id == workflow_id)
    total = session.scalar(select(func.count()).select_from(DagRow).where(*conds)) or 0
    rows = [r._asdict() for r in session.execute(select(DagRow.id, *SUMMARY_COLUMNS).where(*conds)
                                                 .order_by(DagRow.id.desc()).limit(page.limit).offset(page.offset))]
    return {"items": rows, "total": total, "limit": page.limit, "offset": page.offset}


@router.get("/{dag_id}", response_model=DagDetail)
def get_dag(session: DbSession, _: Viewer, dag_id: IdPath) -> dict[str, Any]:
    row = _get(session, dag_id)
    history = session.scalars(select(DagHistoryRow).where(DagHistoryRow.dag_id == dag_id)
                              .order_by(DagHistoryRow.id.desc()).limit(HISTORY_SHOWN))
    out = DagSummary.model_validate(row).model_dump()
    out.update({
        "dag_file": row.dag_file, "submit_dir": row.submit_dir, "rescue_dag": row.rescue_dag,
        "stop_requested_at": row.stop_requested_at, "stop_reason": row.stop_reason, "total_edges": row.total_edges,
        "nodes_by_role": row.nodes_by_role, "completed_work_units": sorted(row.completed_work_units),
        "round_params": row.round_params, "round_metrics": row.round_metrics,
        "history": [{"at": h.at, "event": h.event, "detail": h.detail} for h in history],
    })
    return out


@router.get("/{dag_id}/nodes", response_model=DagNodes)
def get_dag_nodes(
    session: DbSession, _: Viewer, dag_id: IdPath, page: Paging,
    work_unit: Annotated[str | None, Query(max_length=100, pattern=r"^mg_\d+$")] = None,
) -> dict[str, Any]:
    """Live from DAGMan's status files (never stored); paged over work units."""
    row = _get(session, dag_id)
    return {"dag_id": row.id, **dag_nodes(FsPath(row.submit_dir), page.limit, page.offset, work_unit)}


@router.get("/{dag_id}/logs", response_model=DagLogs)
def get_dag_logs(
    session: DbSession, _: Viewer, dag_id: IdPath,
    lines: Annotated[int, Query(ge=1, le=MAX_LOG_LINES)] = 200,
    work_unit: Annotated[str | None, Query(max_length=100, pattern=r"^mg_\d+$")] = None,
) -> dict[str, Any]:
    """The tail of DAGMan's log (``workflow.dag.dagman.out``, or a work unit's ``group.dag.dagman.out``)."""
    row = _get(session, dag_id)
    return {"dag_id": row.id, **dag_logs(FsPath(row.submit_dir), lines, work_unit)}
