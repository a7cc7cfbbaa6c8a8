"""Alerts: stored with a reason an operator can act on, de-duplicated within a window.

A condition that persists is one alert, not one per window: while the newest alert of a kind for a
request is not acknowledged, raising it again (after the window) updates that row's reason and bumps
``detail.count`` / ``detail.last_seen`` instead of adding a row.  An acknowledged alert that comes
back after the window is a new row (the operator has seen the old one).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wms2.db.tables import AlertRow

log = logging.getLogger(__name__)


def last_seen(row: AlertRow) -> datetime:
    """When the alert was last raised (``detail.last_seen`` of a repeated alert, else its creation)."""
    seen = (row.detail or {}).get("last_seen")
    return datetime.fromisoformat(seen) if isinstance(seen, str) else row.created_at


def raise_alert(
    session: Session,
    *,
    kind: str,
    reason: str,
    now: datetime,
    request_name: str | None = None,
    status: str | None = None,
    detail: dict[str, Any] | None = None,
    repeat_after_s: float = 3600.0,
) -> AlertRow | None:
    """Store (or repeat) an alert unless the same kind was raised for the same request within the window.

    Returns the new or repeated row, or None when nothing was raised (still inside the window)."""
    latest = session.scalar(
        select(AlertRow)
        .where(AlertRow.kind == kind, AlertRow.request_name == request_name)
        .order_by(AlertRow.id.desc())
        .limit(1)
    )
    if latest is not None:
        if last_seen(latest) >= now - timedelta(seconds=repeat_after_s):
            return None
        if latest.acknowledged_at is None:
            count = int((latest.detail or {}).get("count", 1)) + 1
            latest.detail = {**(latest.detail or {}), **(detail or {}), "count": count, "last_seen": now.isoformat()}
            latest.reason = reason
            latest.status_at_alert = status
            log.warning("alert %s for %s (raised %d times): %s", kind, request_name or "-", count, reason)
            return latest
    row = AlertRow(kind=kind, reason=reason, request_name=request_name, status_at_alert=status,
                   detail=detail or {}, created_at=now)
    session.add(row)
    log.warning("alert %s for %s: %s", kind, request_name or "-", reason)
    return row
