"""Status handlers that need no execution engine: ``submitted``, ``queued``, ``planning``,
``resubmitting`` and ``held``.  Handlers are idempotent: running one twice changes nothing more."""

from __future__ import annotations

import errno
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select

from wms2.core.alerts import raise_alert
from wms2.core.stuck import human_duration
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


ADMITTED = "admitted: planning the next round"
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)  # the submit directory's disk or quota is full
DEFERRED = "planning deferred: "


def handle_queued(ctx: HandlerContext, request: RequestRow) -> None:
    """If a slot is free and this request is next in line: plan and submit the next round."""
    if ctx.workers.launcher is None:
        ctx.admission.skip(request.id)
        return
    if not ctx.admission.try_admit(request.id):
        return
    workflow = _workflow(ctx, request)
    transition(request, RequestStatus.planning, SYSTEM, ADMITTED, ctx.now)
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
    try:
        result = ctx.workers.launcher.launch(ctx, request, workflow)
    except OSError as exc:
        if exc.errno not in DISK_FULL_ERRNOS:
            raise
        # A full submit disk (found by the fault harness) is an infrastructure wait, not a planning
        # error: before, the request stayed in planning with a traceback every cycle until the 1 h
        # planning timeout failed it.  The round's half-written files are rewritten at the next try.
        ctx.session.rollback()  # nothing of the failed planning is kept (``planning`` was committed)
        _defer(ctx, request, workflow, f"cannot write the round's files: {exc.strerror}: {exc.filename}", False)
        return
    if result.outcome == LaunchOutcome.submitted:
        transition_workflow(workflow, WorkflowStatus.active)
        transition(request, RequestStatus.active, SYSTEM, result.reason, ctx.now)
    elif result.outcome == LaunchOutcome.no_work_left:
        transition_workflow(workflow, WorkflowStatus.completed)
        transition(request, RequestStatus.completed, SYSTEM, result.reason, ctx.now)
    elif result.outcome == LaunchOutcome.held:
        ctx.session.rollback()  # nothing of the refused planning is kept (``planning`` was committed)
        transition_workflow(workflow, WorkflowStatus.new)
        transition(request, RequestStatus.held, SYSTEM, result.reason, ctx.now)
        raise_alert(ctx.session, kind="round_without_record", reason=result.reason, now=ctx.now,
                    request_name=request.name, status=RequestStatus.held,
                    repeat_after_s=ctx.settings.lifecycle.alert_repeat_seconds)
    else:
        _defer(ctx, request, workflow, result.reason, result.expected_wait)


def _is_deferral_entry(entry: dict[str, Any]) -> bool:
    reason = str(entry.get("reason", ""))
    return entry.get("by") == SYSTEM and (
        (entry.get("from") == RequestStatus.queued and entry.get("to") == RequestStatus.planning
         and reason == ADMITTED)
        or (entry.get("from") == RequestStatus.planning and entry.get("to") == RequestStatus.queued
            and reason.startswith(DEFERRED)))


def deferred_since(trail: list[dict[str, Any]], now: datetime) -> datetime:
    """When the current run of planning deferrals began: the oldest deferral among the trailing
    admitted/deferred entries (the audit trail folds them, so this is a short walk); ``now`` if none."""
    since = now
    for entry in reversed(trail):
        if not _is_deferral_entry(entry):
            break
        if entry.get("to") == RequestStatus.queued:
            since = min(since, datetime.fromisoformat(entry["at"]))
    return since


def _defer(ctx: HandlerContext, request: RequestRow, workflow: WorkflowRow, why: str, expected: bool) -> None:
    """Back to the queue; after ``deferred_alert_seconds`` of deferrals an alert, after
    ``deferred_hold_seconds`` → ``held`` with the reason (an operator releases or fails it).  An
    ``expected`` wait (blocks being archived: the Output Manager has its own give-up) is only folded."""
    lc = ctx.settings.lifecycle
    age = (ctx.now - deferred_since(request.status_transitions, ctx.now)).total_seconds()
    reason = f"{DEFERRED}{why}"
    transition_workflow(workflow, WorkflowStatus.new)
    if expected:
        transition(request, RequestStatus.queued, SYSTEM, reason, ctx.now)
        return
    if lc.deferred_hold_seconds is not None and age >= lc.deferred_hold_seconds:
        held = (f"{reason}; deferred for {human_duration(age)} (limit {human_duration(lc.deferred_hold_seconds)}):"
                " held for an operator (release to retry, fail to give up)")
        transition(request, RequestStatus.held, SYSTEM, held, ctx.now)
        raise_alert(ctx.session, kind="planning_deferred_held", reason=held, now=ctx.now,
                    request_name=request.name, status=RequestStatus.held, repeat_after_s=lc.alert_repeat_seconds)
        return
    transition(request, RequestStatus.queued, SYSTEM, reason, ctx.now)
    if lc.deferred_alert_seconds is not None and age >= lc.deferred_alert_seconds:
        hold = (f"; held after {human_duration(lc.deferred_hold_seconds)}" if lc.deferred_hold_seconds is not None
                else "")
        raise_alert(ctx.session, kind="planning_deferred", now=ctx.now, request_name=request.name,
                    status=RequestStatus.queued, repeat_after_s=lc.alert_repeat_seconds,
                    reason=f"{reason}; deferred for {human_duration(age)}{hold}")


def handle_resubmitting(ctx: HandlerContext, request: RequestRow) -> None:
    """The rescue DAG record is ready: go back to the queue (admission resubmits it)."""
    workflow = _workflow(ctx, request)
    transition_workflow(workflow, WorkflowStatus.new)
    transition(request, RequestStatus.queued, SYSTEM, "rescue DAG ready; back in the queue", ctx.now)


def handle_waiting(ctx: HandlerContext, request: RequestRow) -> None:
    """``held``: nothing to do; an operator decides."""
