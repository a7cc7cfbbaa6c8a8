"""The ReqMgr2 status WMS2 writes: forward only, one allowed step at a time."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from wms2.domain.enums import RequestStatus
from wms2.services.reqmgr_status import (
    AGENT_EDGES,
    RANK,
    fallback_target,
    is_behind,
    path,
    target_status,
)

# ReqMgr2's own transition table (WMCore ReqMgr/DataStructs/RequestStatus.py) for the states WMS2 writes.
SERVER_ALLOWED = {
    "assigned": {"staging", "aborted"}, "staging": {"staged", "aborted"},
    "staged": {"acquired", "aborted", "failed"}, "acquired": {"running-open", "aborted", "failed"},
    "running-open": {"running-closed", "force-complete", "aborted"},
    "running-closed": {"force-complete", "completed", "aborted"}, "force-complete": {"completed"},
    "aborted": {"aborted-completed"},
}


def test_agent_edges_are_allowed_by_reqmgr2() -> None:
    for state, nexts in AGENT_EDGES.items():
        assert set(nexts) <= SERVER_ALLOWED[state], state


def test_full_walk_from_assigned_to_completed() -> None:
    assert path("assigned", "completed") == ["staging", "staged", "acquired", "running-open", "running-closed",
                                             "completed"]
    assert path("running-open", "aborted-completed") == ["aborted", "aborted-completed"]
    assert path("force-complete", "completed") == ["completed"]
    assert path("completed", "running-open") is None


def test_targets() -> None:
    assert target_status(RequestStatus.queued, had_dag=False, adaptive=True) == "acquired"
    assert target_status(RequestStatus.active, had_dag=True, adaptive=True) == "running-open"
    assert target_status(RequestStatus.active, had_dag=True, adaptive=False) == "running-closed"
    assert target_status(RequestStatus.queued, had_dag=True, adaptive=True) == "running-open"
    assert target_status(RequestStatus.completed, had_dag=True, adaptive=True) == "completed"
    assert target_status(RequestStatus.aborted, had_dag=False, adaptive=True) == "aborted-completed"
    assert fallback_target("acquired", "failed") == "failed"
    assert fallback_target("running-open", "failed") == "aborted-completed"


@given(st.sampled_from(sorted(RANK)), st.sampled_from(sorted(RANK)))
def test_paths_never_go_backwards_and_use_allowed_steps(current: str, target: str) -> None:
    steps = path(current, target)
    if steps is None:
        return
    chain = [current, *steps]
    for a, b in itertools.pairwise(chain):
        assert b in SERVER_ALLOWED[a]
        assert is_behind(a, b)
    assert not steps or steps[-1] == target
