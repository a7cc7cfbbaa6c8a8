"""DBS output registration bookkeeping (``wms2.services.dbs_writer``).

``dbs_buffer_files``: the files registered into a block that is not yet inserted into DBS.  DBS takes a
block in one bulk insertion, already closed (as WMAgent's DBS3Buffer does), so the files of an open block
wait here, written in the same transaction as the Output Manager's own records.

``dbs_steps``: one row per DBS step that is done (a block inserted, a block invalidated), keyed by a digest
of ``kind|name``, written only after DBS confirmed it and in the caller's transaction, like
``rucio_steps``: after a crash the missing row makes the step run again, and the step recognises what DBS
already has (an existing block is answered as a duplicate and checked).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from wms2.db.base import Base, JsonType, UTCDateTime, utcnow


class DbsStepRow(Base):
    __tablename__ = "dbs_steps"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(1000), nullable=False)
    result: Mapped[str | None] = mapped_column(String(200), nullable=True)  # e.g. how many files
    done_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_dbs_steps_kind_name", "kind", "name"),)


class DbsBufferFileRow(Base):
    __tablename__ = "dbs_buffer_files"

    lfn: Mapped[str] = mapped_column(String(500), primary_key=True)
    block: Mapped[str] = mapped_column(String(600), nullable=False)
    dataset: Mapped[str] = mapped_column(String(500), nullable=False)
    record: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False)  # size, adler32, events, lumis...
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_dbs_buffer_files_block", "block"),)
