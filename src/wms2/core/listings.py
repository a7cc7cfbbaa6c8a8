"""Read-only listings shared by the REST API and the command line (local mode): requests, the admission
queue, sites and site bans.  One implementation, so ``wms2 queue`` on the database and
``GET /admission/queue`` give the same answer.  Plain JSON-able dicts (the API's response models
shape them for the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from wms2.config import Settings
from wms2.core.actions import effective_max_active_dags
from wms2.core.admission import admission_order_clause, queue_age, slots_in_use
from wms2.core.views import request_summary
from wms2.db.tables import RequestRow, SiteBanRow, SiteRow
from wms2.domain.enums import RequestStatus, SiteStatus

REQUEST_SUMMARY_COLUMNS = (RequestRow.name, RequestRow.status, RequestRow.priority, RequestRow.urgent,
                           RequestRow.request_type, RequestRow.requestor, RequestRow.campaign, RequestRow.created_at,
                           RequestRow.updated_at)
SITE_FIELDS = ("name", "tier", "status", "total_slots", "storage_element", "updated_at", "updated_by", "reason")
BAN_FIELDS = ("id", "site", "workflow_id", "reason", "failure_data", "created_at", "expires_at", "removed_at",
              "removed_by")


def page_of(items: list[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def list_requests(session: Session, limit: int, offset: int, status: RequestStatus | None = None,
                  campaign: str | None = None, requestor: str | None = None) -> dict[str, Any]:
    """Request summaries, newest first."""
    conds = []
    if status is not None:
        conds.append(RequestRow.status == status)
    if campaign is not None:
        conds.append(RequestRow.campaign == campaign)
    if requestor is not None:
        conds.append(RequestRow.requestor == requestor)
    total = session.scalar(select(func.count()).select_from(RequestRow).where(*conds)) or 0
    # Only the summary columns, as plain rows: stored documents are large, ORM objects costly.
    rows = session.execute(select(*REQUEST_SUMMARY_COLUMNS).where(*conds)
                           .order_by(RequestRow.id.desc()).limit(limit).offset(offset))
    return page_of([request_summary(r) for r in rows], total, limit, offset)


def admission_queue(session: Session, settings: Settings, limit: int, offset: int,
                    now: datetime) -> dict[str, Any]:
    """Queued requests in admission order (``urgent`` first, priority descending, FIFO), with the cap."""
    cap = effective_max_active_dags(session, settings)
    active = slots_in_use(session)
    depth = session.scalar(select(func.count()).select_from(RequestRow)
                           .where(RequestRow.status == RequestStatus.queued)) or 0
    # Only the columns shown: loading whole rows would decode every stored document.
    rows = session.execute(select(RequestRow.name, RequestRow.priority, RequestRow.urgent, RequestRow.requestor,
                                  RequestRow.queued_at)
                           .where(RequestRow.status == RequestStatus.queued)
                           .order_by(*admission_order_clause()).limit(limit).offset(offset)).all()
    items = [{"position": offset + i + 1, "name": r.name, "priority": r.priority, "urgent": r.urgent,
              "requestor": r.requestor, "queued_at": r.queued_at, "waiting_seconds": queue_age(r, now)}
             for i, r in enumerate(rows)]
    return {"max_active_dags": cap, "active_dags": active, "free_slots": max(0, cap - active),
            "queue_depth": depth, "items": items, "limit": limit, "offset": offset}


def active_ban_clause(now: datetime) -> ColumnElement[bool]:
    return (SiteBanRow.removed_at.is_(None)) & (SiteBanRow.expires_at.is_(None) | (SiteBanRow.expires_at > now))


def site_out(session: Session, row: SiteRow, now: datetime) -> dict[str, Any]:
    bans = session.scalar(select(func.count(SiteBanRow.id)).where(SiteBanRow.site == row.name,
                                                                   active_ban_clause(now)))
    return {**{f: getattr(row, f) for f in SITE_FIELDS}, "active_bans": bans or 0}


def ban_out(ban: SiteBanRow, now: datetime) -> dict[str, Any]:
    active = ban.removed_at is None and (ban.expires_at is None or ban.expires_at > now)
    return {**{f: getattr(ban, f) for f in BAN_FIELDS}, "active": active}


def list_sites(session: Session, limit: int, offset: int, now: datetime,
               status: SiteStatus | None = None) -> dict[str, Any]:
    stmt = select(SiteRow)
    if status is not None:
        stmt = stmt.where(SiteRow.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(SiteRow.name).limit(limit).offset(offset))
    return page_of([site_out(session, r, now) for r in rows], total, limit, offset)


def list_bans(session: Session, limit: int, offset: int, now: datetime, active: bool = True,
              site: str | None = None) -> dict[str, Any]:
    """Site bans, newest first; ``active`` keeps only those in force."""
    stmt = select(SiteBanRow)
    if active:
        stmt = stmt.where(active_ban_clause(now))
    if site is not None:
        stmt = stmt.where(SiteBanRow.site == site)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(SiteBanRow.id.desc()).limit(limit).offset(offset))
    return page_of([ban_out(b, now) for b in rows], total, limit, offset)
