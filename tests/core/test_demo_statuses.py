"""The demo driver's stop test reads only the request statuses (one query), not a progress snapshot."""

from __future__ import annotations

from wms2.config import Settings
from wms2.core.demo import load_samples, request_statuses, seed, seed_dataset, snapshot
from wms2.db.session import Database
from wms2.db.tables import RequestRow
from wms2.domain.enums import RequestStatus


def test_request_statuses_match_the_snapshot_in_id_order(db: Database, settings: Settings) -> None:
    assert request_statuses(db) == []
    seed_dataset(db)
    names = seed(db, settings, load_samples())
    with db.session() as session:  # make the two differ, so that a swapped order fails
        row = session.query(RequestRow).filter(RequestRow.name == names[-1]).one()
        row.status = RequestStatus.held
    statuses = request_statuses(db)
    assert len(statuses) == len(names) == 2
    assert all(isinstance(s, RequestStatus) for s in statuses)
    assert [str(s) for s in statuses] == [r["status"] for r in snapshot(db)]
    assert statuses[-1] == RequestStatus.held and statuses[0] != RequestStatus.held
