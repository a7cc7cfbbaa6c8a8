"""Status handlers that need no execution engine: ``submitted``, ``queued``, ``planning``,
``resubmitting`` and ``held``.  Handlers are idempotent: running one twice changes nothing more."""

from __future__ import annotations

import logging

from sqlalchemy import select

from wms2.core.transitions import SYSTEM, transition, transition_workflow
from wms2.core.workers import HandlerContext, LaunchOutcome
from wms2.core.workflow_manager import create_workflow, revalidate
from wms2.db.tables import RequestRow, WorkflowRow
from wms2.domain.enums import RequestStatus, WorkflowStatus
from wms2.domain.reqmgr import RequestImportError

log = logging.getLogger(__name__)


def handle_submitted(ctx: HandlerContext, request: RequestRow) -> None:
    """Import + validate → create the workflow → ``queued`` (invalid → ``failed`` with the reason)."""
    try:
        spec = revalidate(request, ctx.settings)
    except RequestImportError as exc:
        transition(request, RequestStatus.failed, SYSTEM, f"validation failed: {exc}", ctx.now)
        return
    request.spec = spec.model_dump(mode="json")
    create_workflow(ctx.session, request, spec)
    transition(request, RequestStatus.queued, SYSTEM, "validated; workflow created", ctx.now)


def _workflow(ctx: HandlerContext, request: RequestRow) -> WorkflowRow:
    wf = ctx.session.scalar(select(WorkflowRow).where(WorkflowRow.request_id == request.id))
    if wf is None:
        raise RuntimeError(f"request {request.name} is {request.status} but has no workflow")
    return wf


def handle_queued(ctx: HandlerContext, request: RequestRow) -> None:
    """If a slot is free and this request is next in line: plan and submit the next round."""
    if ctx.workers.launcher is None:
        ctx.admission.skip(request.id)
        return
    if not ctx.admission.try_admit(request.id):
        return
    workflow = _workflow(ctx, request)
    transition(request, RequestStatus.planning, SYSTEM, "admitted: planning the next round", ctx.now)
    transition_workflow(workflow, WorkflowStatus.planning)
    ctx.commit()
    _launch(ctx, request, workflow)


def handle_planning(ctx: HandlerContext, request: RequestRow) -> None:
    """A crash during planning leaves the request here; planning is idempotent, so run it again."""
    if ctx.workers.launcher is None:
        return
    _launch(ctx, request, _workflow(ctx, request))


def _launch(ctx: HandlerContext, request: RequestRow, workflow: WorkflowRow) -> None:
    assert ctx.workers.launcher is not None
    result = ctx.workers.launcher.launch(ctx, request, workflow)
    if result.outcome == LaunchOutcome.submitted:
        transition_workflow(workflow, WorkflowStatus.active)
        transition(request, RequestStatus.active, SYSTEM, result.reason, ctx.now)
    elif result.outcome == LaunchOutcome.no_work_left:
        transition_workflow(workflow, WorkflowStatus.completed)
        transition(request, RequestStatus.completed, SYSTEM, result.reason, ctx.now)
    else:
        transition_workflow(workflow, WorkflowStatus.new)
        transition(request, RequestStatus.queued, SYSTEM, f"planning deferred: {result.reason}", ctx.now)


def handle_resubmitting(ctx: HandlerContext, request: RequestRow) -> None:
    """The rescue DAG record is ready: go back to the queue (admission resubmits it)."""
    workflow = _workflow(ctx, request)
    transition_workflow(workflow, WorkflowStatus.new)
    transition(request, RequestStatus.queued, SYSTEM, "rescue DAG ready; back in the queue", ctx.now)


def handle_waiting(ctx: HandlerContext, request: RequestRow) -> None:
    """``held``: nothing to do; an operator decides."""
