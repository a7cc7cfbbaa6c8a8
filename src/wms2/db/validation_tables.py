"""Physics validations (``wms2.validation``): one row per comparison of two requests' outputs.

A validation is a background job of ``wms2 serve`` (queued -> running -> done | failed); it changes no
request status.  The report (``report.json`` and the self-contained ``report.html``) lives under
``<home>/validations/<id>/``; the row keeps its path and the overall verdict.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wms2.db.base import Base, UTCDateTime, utcnow

VALIDATION_STATUSES = ("queued", "running", "done", "failed")


class ValidationRow(Base):
    __tablename__ = "validations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(200), nullable=False, doc="reference request name")
    new: Mapped[str] = mapped_column(String(200), nullable=False, doc="new request name")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    created_by: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verdict: Mapped[str | None] = mapped_column(String(16))
    report_path: Mapped[str | None] = mapped_column(Text, doc="the HTML report; report.json next to it")
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_validations_ref", "ref"),
        Index("ix_validations_new", "new"),
        Index("ix_validations_status", "status"),
    )
