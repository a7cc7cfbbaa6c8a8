"""Bookkeeping of the live sync with ReqMgr2 (``wms2.core.reqmgr_sync``): one row per ReqMgr2 request
WMS2 took (or refused to take) from a team it serves.

``reqmgr_status`` is ReqMgr2's status as WMS2 last knew it (read by the pull or written by the push);
the push walks ReqMgr2's chain forward from there to the status that mirrors WMS2's own, one step per
PUT, and never backwards.  ``history`` keeps every write with ReqMgr2's answer (bounded).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wms2.db.base import Base, JsonType, UTCDateTime, utcnow


class ReqMgrSyncRow(Base):
    __tablename__ = "reqmgr_sync"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    team: Mapped[str] = mapped_column(String(100), nullable=False)
    imported: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False,
                                           doc="False: the import was refused (import_error says why)")
    import_error: Mapped[str | None] = mapped_column(Text)
    reqmgr_status: Mapped[str] = mapped_column(String(40), nullable=False)
    written_status: Mapped[str | None] = mapped_column(String(40), doc="last status WMS2 wrote successfully")
    applied: Mapped[dict[str, Any]] = mapped_column(
        JsonType, nullable=False, default=dict,
        doc="ReqMgr2 values last applied to WMS2: RequestPriority, SiteWhitelist, SiteBlacklist")
    finished: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False,
                                           doc="both sides terminal: nothing left to sync")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, doc="failed writes in a row")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
