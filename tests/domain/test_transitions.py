from __future__ import annotations

import itertools

import pytest

from wms2.domain.enums import BlockStatus, DAGStatus, RequestStatus, WorkflowStatus
from wms2.domain.transitions import (
    BLOCK_TRANSITIONS,
    DAG_TRANSITIONS,
    REQUEST_TRANSITIONS,
    WORKFLOW_TRANSITIONS,
    IllegalTransition,
    audit_entry,
    check_transition,
)


@pytest.mark.parametrize(("table", "enum"), [(REQUEST_TRANSITIONS, RequestStatus),
                                            (WORKFLOW_TRANSITIONS, WorkflowStatus),
                                            (DAG_TRANSITIONS, DAGStatus), (BLOCK_TRANSITIONS, BlockStatus)])
def test_every_status_has_a_row(table: dict, enum: type) -> None:
    assert set(table) == set(enum)


def test_design_paths_are_allowed() -> None:
    R = RequestStatus
    path = [R.submitted, R.queued, R.planning, R.active, R.queued, R.planning, R.active, R.completed]
    for a, b in itertools.pairwise(path):
        check_transition("r", a, b)
    for a, b in [(R.active, R.partial), (R.partial, R.resubmitting), (R.resubmitting, R.queued),
                 (R.partial, R.held), (R.held, R.queued), (R.held, R.failed), (R.active, R.stopping),
                 (R.stopping, R.resubmitting)]:
        check_transition("r", a, b)


@pytest.mark.parametrize(("a", "b"), [
    (RequestStatus.completed, RequestStatus.queued),
    (RequestStatus.failed, RequestStatus.active),
    (RequestStatus.submitted, RequestStatus.active),
    (RequestStatus.partial, RequestStatus.completed),  # failed=never automatic path via partial->completed
    (RequestStatus.new, RequestStatus.queued),
])
def test_illegal_moves_are_refused(a: RequestStatus, b: RequestStatus) -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition("request X", a, b)
    assert f"{a.value} -> {b.value}" in str(info.value)
    assert "request X" in str(info.value)


def test_terminal_states_have_no_exit() -> None:
    for s in (RequestStatus.completed, RequestStatus.failed, RequestStatus.aborted):
        assert REQUEST_TRANSITIONS[s] == frozenset()
    with pytest.raises(IllegalTransition, match="terminal"):
        check_transition("r", RequestStatus.aborted, RequestStatus.queued)


def test_mixed_enums_rejected() -> None:
    with pytest.raises(TypeError):
        check_transition("r", RequestStatus.queued, WorkflowStatus.active)  # type: ignore[arg-type]


def test_audit_entry_shape() -> None:
    entry = audit_entry(RequestStatus.queued, RequestStatus.planning, "op:alice", "admitted").as_json()
    assert set(entry) == {"from", "to", "at", "by", "reason"}
    assert entry["from"] == "queued" and entry["by"] == "op:alice"
