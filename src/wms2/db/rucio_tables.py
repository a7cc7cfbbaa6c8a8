"""Which Rucio registration steps are done (``wms2.services.rucio_steps``).

One row per completed step (a container or block DID created, a replica added, an attachment made, a
block closed, a rule created), keyed by a digest of ``kind|scope|name|target``.  A row is written only
after Rucio confirmed the step, in the same transaction as the Output Manager's own bookkeeping; after
a crash the missing rows make the step run again, and the step recognises what Rucio already has.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from wms2.db.base import Base, UTCDateTime, utcnow


class RucioStepRow(Base):
    __tablename__ = "rucio_steps"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    scope: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(1000), nullable=False)
    target: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    result: Mapped[str | None] = mapped_column(String(200), nullable=True)  # e.g. the rule id
    done_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_rucio_steps_kind_name", "kind", "name"),)
