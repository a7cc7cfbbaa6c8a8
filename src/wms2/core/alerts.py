"""Alerts: stored with a reason an operator can act on, de-duplicated within a window."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wms2.db.tables import AlertRow

log = logging.getLogger(__name__)


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
    """Store an alert unless the same kind was raised for the same request within the window."""
    since = now - timedelta(seconds=repeat_after_s)
    recent = session.scalar(
        select(AlertRow.id)
        .where(AlertRow.kind == kind, AlertRow.request_name == request_name, AlertRow.created_at >= since)
        .limit(1)
    )
    if recent is not None:
        return None
    row = AlertRow(kind=kind, reason=reason, request_name=request_name, status_at_alert=status,
                   detail=detail or {}, created_at=now)
    session.add(row)
    log.warning("alert %s for %s: %s", kind, request_name or "-", reason)
    return row
