"""``/workflows``: list, get, status (progress, ETA, rounds, blocks)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sqlalchemy import func, select

from wms2.api.deps import Ctx, DbSession, Page, Paging, Viewer
from wms2.api.models import PageOf, WorkflowDetail, WorkflowProgress, WorkflowSummary
from wms2.api.progress import workflow_progress
from wms2.core.actions import NotFound
from wms2.db.base import utcnow
from wms2.db.tables import WorkflowRow
from wms2.domain.enums import WorkflowStatus

router = APIRouter(prefix="/workflows", tags=["workflows"])
SUMMARY_COLUMNS = (WorkflowRow.request_name, WorkflowRow.status, WorkflowRow.current_round, WorkflowRow.splitting_algo,
                   WorkflowRow.events_planned, WorkflowRow.events_produced, WorkflowRow.current_dag_id,
                   WorkflowRow.created_at, WorkflowRow.updated_at)
IdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _get(session: Any, workflow_id: int) -> WorkflowRow:
    row = session.get(WorkflowRow, workflow_id)
    if row is None:
        raise NotFound("workflow", workflow_id)
    return row


@router.get("", response_model=PageOf[WorkflowSummary])
def list_workflows(
    ctx: Ctx, session: DbSession, _: Viewer, page: Paging,
    status_: Annotated[WorkflowStatus | None, Query(alias="status")] = None,
    request: Annotated[str | None, Query(max_length=200, description="request name")] = None,
) -> dict[str, Any]:
    return ctx.cache.get(("workflows", page.limit, page.offset, status_, request),
                         lambda: _list_workflows(session, page, status_, request))


def _list_workflows(session: Any, page: Page, status_: WorkflowStatus | None, request: str | None) -> dict[str, Any]:
    conds = []
    if status_ is not None:
        conds.append(WorkflowRow.status == status_)
    if request is not None:
        conds.append(WorkflowRow.request_name == request)
    total = session.scalar(select(func.count()).select_from(WorkflowRow).where(*conds)) or 0
    rows = [r._asdict() for r in session.execute(select(WorkflowRow.id, *SUMMARY_COLUMNS).where(*conds)
                                                 .order_by(WorkflowRow.id.desc()).limit(page.limit).offset(page.offset))]
    return {"items": rows, "total": total, "limit": page.limit, "offset": page.offset}


@router.get("/{workflow_id}", response_model=WorkflowDetail)
def get_workflow(session: DbSession, _: Viewer, workflow_id: IdPath) -> WorkflowRow:
    return _get(session, workflow_id)


@router.get("/{workflow_id}/status", response_model=WorkflowProgress)
def workflow_status(session: DbSession, _: Viewer, workflow_id: IdPath) -> dict[str, Any]:
    return workflow_progress(session, _get(session, workflow_id), utcnow())
