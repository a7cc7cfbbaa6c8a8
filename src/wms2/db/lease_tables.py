"""The lifecycle lease (``wms2.core.ownership``): one row naming the process that runs the Lifecycle
Manager, with a fencing token that grows at every takeover."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wms2.db.base import Base, UTCDateTime

LEASE_ROW_ID = 1  # the table holds one row: the lease of this database's lifecycle


class LifecycleLeaseRow(Base):
    """Who owns the lifecycle: holder id, where it runs, since when, until when, and the fencing token."""

    __tablename__ = "lifecycle_lease"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger, nullable=False)
    holder: Mapped[str] = mapped_column(String(64), nullable=False)
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    node_key: Mapped[str] = mapped_column(String(120), nullable=False)
    command: Mapped[str] = mapped_column(String(40), nullable=False)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
