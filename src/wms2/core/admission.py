"""Admission Controller: priority-ordered FIFO with a cap on active DAGs (design §4).

Order: ``urgent`` first, then ``priority`` descending, then ``queued_at`` ascending (then id, so the
order is total and deterministic).  One DAG per workflow round (invariant 6), so a request in
``planning``, ``active`` or ``stopping`` holds exactly one slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wms2.db.tables import RequestRow
from wms2.domain.enums import RequestStatus

SLOT_HOLDING = (RequestStatus.planning, RequestStatus.active, RequestStatus.stopping)


def admission_order_clause() -> tuple:
    return (RequestRow.urgent.desc(), RequestRow.priority.desc(), RequestRow.queued_at.asc(), RequestRow.id.asc())


def queue(session: Session) -> list[RequestRow]:
    """Queued requests in admission order."""
    stmt = select(RequestRow).where(RequestRow.status == RequestStatus.queued).order_by(*admission_order_clause())
    return list(session.scalars(stmt))


def slots_in_use(session: Session) -> int:
    return session.scalar(select(func.count(RequestRow.id)).where(RequestRow.status.in_(SLOT_HOLDING))) or 0


@dataclass
class AdmissionRound:
    """Decides, within one lifecycle cycle, which queued requests may start now."""

    order: list[int]
    free_slots: int
    admitted: list[int] = field(default_factory=list)

    @classmethod
    def build(cls, session: Session, cap: int) -> AdmissionRound:
        order = [r.id for r in queue(session)]
        return cls(order=order, free_slots=max(0, cap - slots_in_use(session)))

    def position(self, request_id: int) -> int | None:
        try:
            return self.order.index(request_id)
        except ValueError:
            return None

    def try_admit(self, request_id: int) -> bool:
        """True when this request is next in line and a slot is free (consumes the slot)."""
        if self.free_slots <= 0:
            return False
        waiting = [rid for rid in self.order if rid not in self.admitted]
        if not waiting or waiting[0] != request_id:
            return False
        self.admitted.append(request_id)
        self.free_slots -= 1
        return True

    def skip(self, request_id: int) -> None:
        """A request that cannot start now does not block the ones behind it."""
        if request_id in self.order and request_id not in self.admitted:
            self.order.remove(request_id)


def queue_age(row: RequestRow, now: datetime) -> float:
    return (now - row.queued_at).total_seconds() if row.queued_at else 0.0
