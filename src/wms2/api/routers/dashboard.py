"""``/dashboard``: the aggregates the operator's web dashboard shows that no other endpoint gives in one
call — the overview (counts, queue head, live DAGs, open alerts), request rows with their progress, a
DAG's work units as one compact grid, and a request's failures over time.

Everything is read from the same tables and DAGMan files as the rest of the API (no second source of
truth); lists and the overview are cached for ``api.aggregate_cache_seconds`` like the other lists.
"""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from wms2.api.dashboard_data import dag_grid, errors_over_time, overview, request_rows
from wms2.api.deps import Ctx, DbSession, Paging, Viewer
from wms2.api.models import DagGrid, DashboardOverview, DashboardRequestRow, ErrorTimeline, PageOf
from wms2.core import actions
from wms2.db.base import utcnow
from wms2.db.tables import DagRow, WorkflowRow
from wms2.domain.enums import RequestStatus

router = APIRouter(prefix="/dashboard", tags=["dashboard"])
DagIdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/overview", response_model=DashboardOverview)
def get_overview(ctx: Ctx, session: DbSession, _: Viewer) -> dict[str, Any]:
    """Requests by status, the head of the admission queue, live DAGs, open alerts (with their reasons)."""
    return ctx.cache.get("dashboard-overview", lambda: overview(session, ctx.settings, utcnow()))


@router.get("/requests", response_model=PageOf[DashboardRequestRow])
def list_request_rows(
    ctx: Ctx, session: DbSession, _: Viewer, page: Paging,
    status_: Annotated[RequestStatus | None, Query(alias="status")] = None,
    q: Annotated[str | None, Query(max_length=200, description="substring of name, campaign or requestor")] = None,
) -> dict[str, Any]:
    """Request rows, newest first, each with progress (events or files done / total), current round,
    work units of the live DAG, node failure rate and ETA."""
    query = (q or "").strip() or None
    key = ("dashboard-requests", page.limit, page.offset, status_, query)
    return ctx.cache.get(key, lambda: request_rows(session, page.limit, page.offset, status_, query, utcnow()))


@router.get("/dags/{dag_id}/grid", response_model=DagGrid)
def get_dag_grid(session: DbSession, _: Viewer, dag_id: DagIdPath) -> dict[str, Any]:
    """Every work unit of a DAG with its state and retries, from DAGMan's outer node status file only (one
    file however large the DAG); a work unit's own nodes come from ``/dags/{id}/nodes?work_unit=``."""
    dag = session.get(DagRow, dag_id)
    if dag is None:
        raise actions.NotFound("DAG", dag_id)
    wf = session.get(WorkflowRow, dag.workflow_id)
    current = wf is not None and wf.current_dag_id == dag.id
    return {"dag_id": dag.id, "request": wf.request_name if wf else None, "round": dag.round,
            "status": str(dag.status), "current": current, "total_work_units": dag.total_work_units,
            "completed_work_units": len(dag.completed_work_units), **dag_grid(FsPath(dag.submit_dir))}


@router.get("/requests/{name}/errors-over-time", response_model=ErrorTimeline)
def get_errors_over_time(session: DbSession, _: Viewer, name: str) -> dict[str, Any]:
    """Final node failures of every DAG of the request, bucketed in time (from the POST side files)."""
    row = actions.get_request(session, name)
    wf = session.scalar(select(WorkflowRow).where(WorkflowRow.request_id == row.id))
    if wf is None:
        return {"request": name, "bucket_seconds": 0, "buckets": []}
    dirs = list(dict.fromkeys(session.scalars(select(DagRow.submit_dir).where(DagRow.workflow_id == wf.id)
                                              .order_by(DagRow.id))))
    return {"request": row.name, **errors_over_time([FsPath(d) for d in dirs])}
