"""Monitoring: ``/health`` (no auth), ``/status``, ``/lifecycle/status``, ``/metrics`` (Prometheus)."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from wms2.api.deps import Ctx, DbSession, Viewer
from wms2.api.errors import error_body
from wms2.api.metrics import _by_status
from wms2.api.models import Health, LifecycleStatus, ServiceStatus
from wms2.core.actions import effective_max_active_dags
from wms2.core.admission import slots_in_use
from wms2.core.ownership import LeaseInfo, read_lease
from wms2.db.tables import AlertRow, DagRow, LifecycleCycleRow, RequestRow, WorkflowRow
from wms2.domain.enums import DAGStatus, RequestStatus, WorkflowStatus

router = APIRouter(tags=["monitoring"])
RECENT_CYCLES = 10  # cycles listed in GET /lifecycle/status


@functools.cache
def _version() -> str:
    try:
        return version("wms2")
    except PackageNotFoundError:
        return "unknown"


@router.get("/health", response_model=Health, responses={503: {"description": "database unreachable"}})
def health(ctx: Ctx) -> Any:
    """Liveness and database reachability; no authentication."""
    try:
        with ctx.db.session() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return JSONResponse(error_body(503, f"database unreachable: {type(exc).__name__}"), status_code=503)
    return {"status": "ok"}


@router.get("/status", response_model=ServiceStatus)
def service_status(ctx: Ctx, session: DbSession, identity: Viewer) -> dict[str, Any]:
    return {
        "version": _version(),
        "engine": ctx.settings.engine.kind,
        "identity": identity.name,
        "role": identity.role.name,
        **ctx.cache.get("status", lambda: _aggregates(ctx, session)),
    }


def _aggregates(ctx: Ctx, session: Session) -> dict[str, Any]:
    requests = _by_status(session, RequestRow.status, RequestStatus)
    last = session.scalar(select(LifecycleCycleRow.started_at).order_by(LifecycleCycleRow.id.desc()).limit(1))
    return {
        "requests": requests,
        "workflows": _by_status(session, WorkflowRow.status, WorkflowStatus),
        "dags": _by_status(session, DagRow.status, DAGStatus),
        "queue_depth": requests[RequestStatus.queued],
        "active_dags": slots_in_use(session),
        "max_active_dags": effective_max_active_dags(session, ctx.settings),
        "open_alerts": session.scalar(select(func.count(AlertRow.id)).where(AlertRow.acknowledged_at.is_(None))) or 0,
        "last_cycle_at": last,
    }


def _cycle(row: LifecycleCycleRow) -> dict[str, Any]:
    return {"started_at": row.started_at, "duration_s": row.duration_s, "requests_evaluated": row.requests_evaluated,
            "errors": row.errors, "error_detail": row.error_detail}


@router.get("/lifecycle/status", response_model=LifecycleStatus)
def lifecycle_status(ctx: Ctx, session: DbSession, _: Viewer) -> dict[str, Any]:
    recent = list(session.scalars(select(LifecycleCycleRow).order_by(LifecycleCycleRow.id.desc())
                                  .limit(RECENT_CYCLES)))
    count, errors, mean, peak = session.execute(select(
        func.count(LifecycleCycleRow.id), func.coalesce(func.sum(LifecycleCycleRow.errors), 0),
        func.avg(LifecycleCycleRow.duration_s), func.max(LifecycleCycleRow.duration_s))).one()
    return {
        "cycle_seconds": ctx.settings.lifecycle.cycle_seconds,
        "running_in_process": ctx.lifecycle is not None and (
            ctx.lifecycle.ownership is None or ctx.lifecycle.ownership.view().get("role") == "owner"),
        "last_cycle": _cycle(recent[0]) if recent else None,
        "cycles_recorded": count,
        "errors_recorded": int(errors),
        "mean_duration_s": float(mean) if mean is not None else None,
        "max_duration_s": float(peak) if peak is not None else None,
        "recent": [_cycle(r) for r in recent],
    }


class LifecycleOwnership(BaseModel):
    """Who runs the Lifecycle Manager (the lease), and this process's part in it."""

    owner: LeaseInfo | None
    single_process: bool
    lease_seconds: float
    renew_seconds: float
    this_process: dict[str, Any] | None
    database_outage: dict[str, Any] | None


@router.get("/lifecycle", response_model=LifecycleOwnership)
def lifecycle_owner(ctx: Ctx, _: Viewer) -> dict[str, Any]:
    """The lifecycle owner (host, pid, since, lease expiry, fencing token) and this process's role."""
    own = ctx.settings.ownership
    manager = ctx.lifecycle
    return {
        "owner": read_lease(ctx.db),
        "single_process": ctx.db.engine.dialect.name == "sqlite",
        "lease_seconds": own.lease_seconds,
        "renew_seconds": own.renew_seconds,
        "this_process": manager.ownership.view() if manager is not None and manager.ownership else None,
        "database_outage": manager.outage.view() if manager is not None else None,
    }


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}})
def metrics(ctx: Ctx, _: Viewer) -> Response:
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)
