"""Stuck detection (design §6.2): per-status timeouts and the status-aware action.

submitted / planning / resubmitting → ``failed`` (internal, should be fast); queued → alert only;
active → probe the schedd: alive → alert "slow DAG", unreachable → alert "schedd unreachable" (never
an automatic recovery); stopping → re-issue the removal.  Every alert states why.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from wms2.core.alerts import raise_alert
from wms2.core.transitions import SYSTEM, transition
from wms2.core.workers import HandlerContext
from wms2.db.tables import DagRow, RequestRow, WorkflowRow
from wms2.domain.enums import RequestStatus
from wms2.engines.base import EngineError

log = logging.getLogger(__name__)

FAIL_ON_TIMEOUT = (RequestStatus.submitted, RequestStatus.planning, RequestStatus.resubmitting)


def human_duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


def check_stuck(ctx: HandlerContext, request: RequestRow) -> bool:
    """Apply the timeout action if the request overstayed its status; True when something was done."""
    status = RequestStatus(request.status)
    timeout = ctx.settings.lifecycle.timeout_for(status.value)
    if timeout is None:
        return False
    age = (ctx.now - request.status_since).total_seconds()
    if age <= timeout:
        return False
    stayed = f"in {status.value} for {human_duration(age)} (timeout {human_duration(timeout)})"
    if status in FAIL_ON_TIMEOUT:
        transition(request, RequestStatus.failed, SYSTEM, f"stuck {stayed}", ctx.now)
        _alert(ctx, request, "stuck_failed", f"request failed: stuck {stayed}")
        return True
    if status == RequestStatus.queued:
        return _alert(ctx, request, "stuck_queued", f"waiting {stayed}; check admission capacity and priority")
    if status == RequestStatus.active:
        return _probe_active(ctx, request, stayed)
    if status == RequestStatus.stopping:
        return _reissue_removal(ctx, request, stayed)
    return _alert(ctx, request, f"stuck_{status.value}", f"stuck {stayed}")


def _alert(ctx: HandlerContext, request: RequestRow, kind: str, reason: str, **detail: object) -> bool:
    row = raise_alert(ctx.session, kind=kind, reason=reason, now=ctx.now, request_name=request.name,
                      status=request.status, detail=dict(detail),
                      repeat_after_s=ctx.settings.lifecycle.alert_repeat_seconds)
    return row is not None


def _current_dag(ctx: HandlerContext, request: RequestRow) -> DagRow | None:
    wf = ctx.session.scalar(select(WorkflowRow).where(WorkflowRow.request_id == request.id))
    if wf is None or wf.current_dag_id is None:
        return None
    return ctx.session.get(DagRow, wf.current_dag_id)


def _probe_active(ctx: HandlerContext, request: RequestRow, stayed: str) -> bool:
    dag = _current_dag(ctx, request)
    engine = ctx.workers.engine
    if dag is None or dag.schedd_name is None or engine is None:
        return _alert(ctx, request, "stuck_active", f"active {stayed}, and no submitted DAG to probe")
    try:
        alive = engine.ping(dag.schedd_name)
    except EngineError as exc:
        log.info("ping of %s failed: %s", dag.schedd_name, exc)
        alive = False
    if alive:
        return _alert(ctx, request, "slow_dag", f"slow DAG: {stayed}; schedd {dag.schedd_name} answers",
                      dag_id=dag.id)
    return _alert(
        ctx, request, "schedd_unreachable",
        f"schedd {dag.schedd_name} unreachable while {stayed}; may need catastrophic recovery"
        " (operator restart); no automatic action taken",
        dag_id=dag.id, schedd=dag.schedd_name,
    )


def _reissue_removal(ctx: HandlerContext, request: RequestRow, stayed: str) -> bool:
    dag = _current_dag(ctx, request)
    engine = ctx.workers.engine
    if dag is None or dag.cluster_id is None or dag.schedd_name is None or engine is None:
        return _alert(ctx, request, "stuck_stopping", f"stopping {stayed}; no DAGMan job known to remove")
    try:
        engine.remove(dag.cluster_id, dag.schedd_name, f"WMS2 re-issued removal: {stayed}")
    except EngineError as exc:
        return _alert(ctx, request, "stuck_stopping", f"stopping {stayed}; re-issued removal failed: {exc}")
    request.status_since = ctx.now  # give the new removal a full timeout
    return _alert(ctx, request, "removal_reissued", f"stopping {stayed}; removal re-issued", dag_id=dag.id)


def age_seconds(since: datetime, now: datetime) -> float:
    return (now - since).total_seconds()
