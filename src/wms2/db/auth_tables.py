"""Tables of the operator HTTP interface: API tokens (stored hashed) and operator settings overrides.

A token's secret is never stored: only ``sha256(secret)`` in hex, so a stolen database does not give
access.  ``settings_overrides`` holds the few settings an operator may change at run time through the
API (e.g. ``admission.max_active_dags``); the Lifecycle Manager reads them every cycle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wms2.db.base import Base, JsonType, UTCDateTime, utcnow


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, doc="the identity the token acts as")
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SettingsOverrideRow(Base):
    __tablename__ = "settings_overrides"

    key: Mapped[str] = mapped_column(String(100), primary_key=True, doc="dotted settings path")
    value: Mapped[Any] = mapped_column(JsonType, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
