"""Typed form of a parsed DAG input file."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path


class NodeStatus(IntEnum):
    """``Node::status_t``: used for NodeStatus and the status file's DagStatus (reference §3)."""

    NOT_READY = 0
    READY = 1
    PRERUN = 2
    SUBMITTED = 3
    POSTRUN = 4
    DONE = 5
    ERROR = 6
    FUTILE = 7


class DagStatusCode(IntEnum):
    """The ``DAG_Status`` / ``$DAG_STATUS`` enum (reference §4.6)."""

    OK = 0
    ERROR = 1
    NODE_FAILED = 2
    ABORT = 3
    RM = 4
    CYCLE = 5
    HALTED = 6


class ExitCode(IntEnum):
    """condor_dagman exit codes (reference §4.5)."""

    OK = 0
    ERROR = 1
    ABORT = 2
    RESTART = 3


@dataclass
class Script:
    kind: str  # "PRE" or "POST"
    command: str  # raw text after the node name
    defer_status: int | None = None
    defer_time: float = 0.0
    debug_file: str | None = None  # SCRIPT DEBUG <file> STDOUT|STDERR|ALL
    debug_type: str = "ALL"


@dataclass(slots=True)
class NodeSpec:
    name: str
    submit: str  # submit file, or the inner DAG file for SUBDAG EXTERNAL
    source: str  # "file:line" of the definition
    directory: str | None = None
    noop: bool = False
    done: bool = False
    is_subdag: bool = False
    is_final: bool = False
    pre: Script | None = None
    post: Script | None = None
    pre_skip: int | None = None
    retries: int = 0
    unless_exit: int | None = None
    abort_on: int | None = None
    abort_return: int | None = None
    vars: dict[str, str] = field(default_factory=dict)  # in file order, last one wins
    append_vars: dict[str, str] = field(default_factory=dict)
    priority: int = 0
    category: str | None = None
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)


@dataclass
class DagSpec:
    path: Path
    nodes: dict[str, NodeSpec] = field(default_factory=dict)  # DAG (file) order
    final: str | None = None
    maxjobs: dict[str, int] = field(default_factory=dict)
    config_file: str | None = None
    node_status_file: str | None = None
    status_interval: float = 60.0  # DAGMan's min_update default
    status_always_update: bool = False
    jobstate_log: str | None = None
    job_attrs: dict[str, str] = field(default_factory=dict)  # SET_JOB_ATTR (submit-time only)
    env: list[str] = field(default_factory=list)  # ENV lines (submit-time only)
    rescue_file: Path | None = None  # the rescue DAG applied on top, if any
    rescue_number: int = 0

    @property
    def directory(self) -> Path:
        return self.path.parent

    def node_dir(self, node: NodeSpec) -> Path:
        """Directory a node submits from and runs its scripts in."""
        if node.directory is None:
            return self.directory
        return (self.directory / node.directory).resolve()
