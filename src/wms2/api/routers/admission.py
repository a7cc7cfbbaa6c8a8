"""``/admission``: the queue in admission order, and the cap on active DAGs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import func, select

from wms2.api.deps import Ctx, DbSession, Operator, Paging, Viewer
from wms2.api.models import AdmissionConfig, AdmissionPatch, AdmissionQueue
from wms2.core import actions
from wms2.core.admission import admission_order_clause, queue_age, slots_in_use
from wms2.db.auth_tables import SettingsOverrideRow
from wms2.db.base import utcnow
from wms2.db.tables import RequestRow
from wms2.domain.enums import RequestStatus

router = APIRouter(prefix="/admission", tags=["admission"])


@router.get("/queue", response_model=AdmissionQueue)
def admission_queue(ctx: Ctx, session: DbSession, _: Viewer, page: Paging) -> dict[str, Any]:
    """Queued requests in admission order (``urgent`` first, priority descending, FIFO)."""
    now = utcnow()
    cap = actions.effective_max_active_dags(session, ctx.settings)
    active = slots_in_use(session)
    depth = session.scalar(select(func.count(RequestRow.id)).where(RequestRow.status == RequestStatus.queued)) or 0
    # Only the columns shown: loading whole rows would decode every stored document.
    rows = session.execute(select(RequestRow.name, RequestRow.priority, RequestRow.urgent, RequestRow.requestor,
                                  RequestRow.queued_at)
                           .where(RequestRow.status == RequestStatus.queued)
                           .order_by(*admission_order_clause()).limit(page.limit).offset(page.offset)).all()
    items = [{"position": page.offset + i + 1, "name": r.name, "priority": r.priority, "urgent": r.urgent,
              "requestor": r.requestor, "queued_at": r.queued_at, "waiting_seconds": queue_age(r, now)}
             for i, r in enumerate(rows)]
    return {"max_active_dags": cap, "active_dags": active, "free_slots": max(0, cap - active),
            "queue_depth": depth, "items": items, "limit": page.limit, "offset": page.offset}


def _config(ctx: Ctx, session: Any) -> dict[str, Any]:
    row = session.get(SettingsOverrideRow, actions.MAX_ACTIVE_DAGS_KEY)
    if row is None:
        return {"max_active_dags": ctx.settings.admission.max_active_dags, "source": "settings"}
    return {"max_active_dags": actions.effective_max_active_dags(session, ctx.settings), "source": "override",
            "updated_by": row.updated_by, "reason": row.reason}


@router.get("/config", response_model=AdmissionConfig)
def get_admission_config(ctx: Ctx, session: DbSession, _: Viewer) -> dict[str, Any]:
    return _config(ctx, session)


@router.patch("/config", response_model=AdmissionConfig)
def patch_admission_config(ctx: Ctx, session: DbSession, identity: Operator, patch: AdmissionPatch) -> dict[str, Any]:
    """Change the cap on active DAGs (stored in the database; the lifecycle reads it every cycle)."""
    actions.set_max_active_dags(session, patch.max_active_dags, identity.name, patch.reason)
    ctx.wake()
    return _config(ctx, session)
