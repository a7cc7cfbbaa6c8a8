"""``/sites``: list, get, change, drain, enable; bans list and lift.

The sites table is filled from the site catalog (CRIC or the configured local sites) on first use;
an operator's status is never overwritten by a later sync."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wms2.api.context import ApiContext
from wms2.api.deps import Ctx, DbSession, Operator, Paging, Viewer
from wms2.api.models import BanIn, BanOut, PageOf, Reason, SiteOut, SitePatch
from wms2.core import actions, listings
from wms2.db.base import utcnow
from wms2.db.tables import SiteBanRow, SiteRow, WorkflowRow
from wms2.domain.enums import SiteStatus
from wms2.domain.safety import SITE_PATTERN
from wms2.services.sites import SiteCatalogError, make_site_catalog

log = logging.getLogger(__name__)
router = APIRouter(prefix="/sites", tags=["sites"])
SitePath = Annotated[str, Path(max_length=100, pattern=SITE_PATTERN)]


def _ensure_synced(ctx: ApiContext, session: Session) -> None:
    """Sync once per process, in its own transaction (an endpoint's rollback must not undo it)."""
    if ctx.sites_synced:
        return
    try:
        with ctx.db.session() as own:
            actions.sync_sites(own, make_site_catalog(ctx.settings))
    except SiteCatalogError as exc:
        raise actions.EngineUnavailable(f"site catalog unavailable: {exc}") from exc
    except IntegrityError:
        log.info("sites: a concurrent request synced the catalog first")
    ctx.sites_synced = True


def _site_out(session: Session, row: SiteRow, now: Any) -> dict[str, Any]:
    return listings.site_out(session, row, now)


def _ban_out(ban: SiteBanRow, now: Any) -> dict[str, Any]:
    return listings.ban_out(ban, now)


@router.get("", response_model=PageOf[SiteOut])
def list_sites(
    ctx: Ctx, session: DbSession, _: Viewer, page: Paging,
    status_: Annotated[SiteStatus | None, Query(alias="status")] = None,
) -> dict[str, Any]:
    _ensure_synced(ctx, session)
    return listings.list_sites(session, page.limit, page.offset, utcnow(), status_)


@router.get("/bans", response_model=PageOf[BanOut])
def list_bans(
    session: DbSession, _: Viewer, page: Paging,
    active: Annotated[bool, Query(description="only bans in force")] = True,
    site: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    return listings.list_bans(session, page.limit, page.offset, utcnow(), active, site)


@router.post("/bans", response_model=BanOut, status_code=201)
def create_ban(ctx: Ctx, session: DbSession, identity: Operator, body: BanIn) -> dict[str, Any]:
    """An operator's ban of a site (everywhere, or for one request): landing nodes of later DAGs and rescues
    exclude it, as for the Error Handler's bans.  Who and why are kept in ``failure_data``."""
    _ensure_synced(ctx, session)
    actions.get_site(session, body.site)
    workflow_id = None
    if body.request is not None:
        row = actions.get_request(session, body.request)
        workflow_id = session.scalar(select(WorkflowRow.id).where(WorkflowRow.request_id == row.id))
        if workflow_id is None:
            raise actions.Conflict(f"request {body.request} has no workflow yet: ban the site everywhere instead")
    now = utcnow()
    ban = SiteBanRow(site=body.site, workflow_id=workflow_id, reason=body.reason, created_at=now,
                     expires_at=now + timedelta(days=body.days),
                     failure_data={"banned_by": identity.name, "source": "operator"})
    session.add(ban)
    session.flush()
    log.info("site %s banned by %s (%s): %s", body.site, identity.name, body.request or "everywhere", body.reason)
    ctx.wake()
    return _ban_out(ban, now)


@router.post("/bans/{ban_id}/lift", response_model=BanOut)
def lift_ban(ctx: Ctx, session: DbSession, identity: Operator, body: Reason,
             ban_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> dict[str, Any]:
    ban = actions.lift_ban(session, ban_id, identity.name, body.reason)
    ctx.wake()
    return _ban_out(ban, utcnow())


@router.get("/{name}", response_model=SiteOut)
def get_site(ctx: Ctx, session: DbSession, _: Viewer, name: SitePath) -> dict[str, Any]:
    _ensure_synced(ctx, session)
    return _site_out(session, actions.get_site(session, name), utcnow())


@router.patch("/{name}", response_model=SiteOut)
def patch_site(ctx: Ctx, session: DbSession, identity: Operator, name: SitePath, patch: SitePatch) -> dict[str, Any]:
    _ensure_synced(ctx, session)
    row = actions.update_site(session, name, identity.name, patch.reason, status=patch.status,
                              total_slots=patch.total_slots)
    ctx.wake()
    return _site_out(session, row, utcnow())


@router.post("/{name}/drain", response_model=SiteOut)
def drain_site(ctx: Ctx, session: DbSession, identity: Operator, name: SitePath, body: Reason) -> dict[str, Any]:
    _ensure_synced(ctx, session)
    row = actions.set_site_status(session, name, SiteStatus.draining, identity.name, body.reason)
    ctx.wake()
    return _site_out(session, row, utcnow())


@router.post("/{name}/enable", response_model=SiteOut)
def enable_site(ctx: Ctx, session: DbSession, identity: Operator, name: SitePath, body: Reason) -> dict[str, Any]:
    _ensure_synced(ctx, session)
    row = actions.set_site_status(session, name, SiteStatus.enabled, identity.name, body.reason)
    ctx.wake()
    return _site_out(session, row, utcnow())
