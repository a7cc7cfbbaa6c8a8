"""The enumerations of design §5. One definition shared by code, schema, API and docs."""

from __future__ import annotations

from enum import StrEnum


class RequestStatus(StrEnum):
    new = "new"
    submitted = "submitted"
    queued = "queued"
    planning = "planning"
    active = "active"
    held = "held"
    stopping = "stopping"
    resubmitting = "resubmitting"
    completed = "completed"
    partial = "partial"
    failed = "failed"
    aborted = "aborted"


class WorkflowStatus(StrEnum):
    new = "new"
    planning = "planning"
    active = "active"
    stopping = "stopping"
    resubmitting = "resubmitting"
    completed = "completed"
    partial = "partial"
    failed = "failed"
    aborted = "aborted"


class DAGStatus(StrEnum):
    planning = "planning"
    ready = "ready"
    submitted = "submitted"
    running = "running"
    completed = "completed"
    partial = "partial"
    failed = "failed"
    removed = "removed"
    halted = "halted"
    stopped = "stopped"


class BlockStatus(StrEnum):
    open = "open"
    complete = "complete"
    archived = "archived"
    failed = "failed"
    invalidated = "invalidated"


class CleanupPolicy(StrEnum):
    keep_until_replaced = "keep_until_replaced"
    immediate_cleanup = "immediate_cleanup"


class SplittingAlgo(StrEnum):
    FileBased = "FileBased"
    EventBased = "EventBased"
    LumiBased = "LumiBased"
    EventAwareLumiBased = "EventAwareLumiBased"


class NodeRole(StrEnum):
    Landing = "Landing"
    Processing = "Processing"
    Merge = "Merge"
    Cleanup = "Cleanup"


class SiteStatus(StrEnum):
    enabled = "enabled"
    disabled = "disabled"
    draining = "draining"
    maintenance = "maintenance"


class InputFileState(StrEnum):
    new = "new"
    assigned = "assigned"
    processed = "processed"
    attempted = "attempted"
    excluded = "excluded"


TERMINAL_REQUEST_STATUSES: frozenset[RequestStatus] = frozenset(
    {RequestStatus.completed, RequestStatus.failed, RequestStatus.aborted}
)
# Statuses the lifecycle loop evaluates (``new`` is the requestor's workspace).
LIFECYCLE_STATUSES: frozenset[RequestStatus] = frozenset(RequestStatus) - TERMINAL_REQUEST_STATUSES - {
    RequestStatus.new
}
