"""``/admission``: the queue in admission order, and the cap on active DAGs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from wms2.api.deps import Ctx, DbSession, Operator, Page, Paging, Viewer
from wms2.api.models import AdmissionConfig, AdmissionPatch, AdmissionQueue
from wms2.core import actions, listings
from wms2.db.auth_tables import SettingsOverrideRow
from wms2.db.base import utcnow

router = APIRouter(prefix="/admission", tags=["admission"])


@router.get("/queue", response_model=AdmissionQueue)
def admission_queue(ctx: Ctx, session: DbSession, _: Viewer, page: Paging) -> dict[str, Any]:
    """Queued requests in admission order (``urgent`` first, priority descending, FIFO)."""
    return ctx.cache.get(("queue", page.limit, page.offset), lambda: _queue(ctx, session, page))


def _queue(ctx: Ctx, session: Any, page: Page) -> dict[str, Any]:
    return listings.admission_queue(session, ctx.settings, page.limit, page.offset, utcnow())


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
