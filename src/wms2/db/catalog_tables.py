"""The embedded data catalog (the local stand-in for DBS and Rucio), stored in the WMS2 database.

Datasets hold blocks, blocks hold files, files hold lumis (one row per run/lumi, with an optional
event count) and replicas (one row per site, disk or tape).  All names are prefixed ``catalog_`` so
they never collide with WMS2's own bookkeeping tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wms2.db.base import Base, JsonType, UTCDateTime, utcnow


class CatalogDatasetRow(Base):
    __tablename__ = "catalog_datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(500), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class CatalogBlockRow(Base):
    __tablename__ = "catalog_blocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_datasets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(600), unique=True, nullable=False)
    is_open: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class CatalogFileRow(Base):
    __tablename__ = "catalog_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_datasets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    block_id: Mapped[int] = mapped_column(ForeignKey("catalog_blocks.id", ondelete="CASCADE"), nullable=False)
    lfn: Mapped[str] = mapped_column(String(800), unique=True, nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    events: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    checksum: Mapped[str | None] = mapped_column(String(40), doc="adler32, 8 hex digits")
    parents: Mapped[list[Any]] = mapped_column(JsonType, nullable=False, default=list)
    is_valid: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class CatalogLumiRow(Base):
    __tablename__ = "catalog_lumis"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("catalog_files.id", ondelete="CASCADE"), nullable=False)
    run: Mapped[int] = mapped_column(Integer, nullable=False)
    lumi: Mapped[int] = mapped_column(Integer, nullable=False)
    events: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("file_id", "run", "lumi", name="uq_catalog_lumi"),
        Index("ix_catalog_lumis_file", "file_id"),
    )


class CatalogReplicaRow(Base):
    __tablename__ = "catalog_replicas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("catalog_files.id", ondelete="CASCADE"), nullable=False)
    site: Mapped[str] = mapped_column(String(100), nullable=False)
    is_tape: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    __table_args__ = (
        UniqueConstraint("file_id", "site", name="uq_catalog_replica"),
        Index("ix_catalog_replicas_file", "file_id"),
    )
