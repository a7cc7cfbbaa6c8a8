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
    kind: str  # "PRE", "POST" or "HOLD"
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
    kind: str = "JOB"  # JOB, FINAL, SUBDAG, SERVICE or PROVISIONER
    inline_submit: list[str] | None = None  # inline / SUBMIT-DESCRIPTION body used instead of a file
    pre: Script | None = None
    post: Script | None = None
    hold: Script | None = None
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
    weak_parents: set[str] = field(default_factory=set)  # parents of WEAK edges (finished is enough)
    tolerance: int | None = None  # TOLERANCE: failed procs tolerated (a percentage when tolerance_pct)
    tolerance_pct: bool = False
    fail_fast: bool | None = None  # TOLERANCE FAIL-FAST (True) / WAIT (False); None = the knob
    save_file: str | None = None  # SAVE_POINT_FILE


@dataclass
class DotConfig:
    """``DOT <file> [UPDATE|DONT-UPDATE] [OVERWRITE|DONT-OVERWRITE] [INCLUDE <hdr>]``."""

    path: str
    update: bool = False
    overwrite: bool = True
    include: str | None = None


@dataclass
class SpliceInfo:
    """A splice merged into a DAG: its (prefixed) nodes, initial/terminal nodes and pins."""

    name: str
    nodes: list[str] = field(default_factory=list)
    initial: list[str] = field(default_factory=list)  # no parents inside the splice
    terminal: list[str] = field(default_factory=list)  # no children inside the splice
    pins_in: dict[int, list[str]] = field(default_factory=dict)
    pins_out: dict[int, list[str]] = field(default_factory=dict)


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
    base_dir: Path | None = None  # the directory nodes run from (a splice's DIR); default: the DAG's
    services: dict[str, NodeSpec] = field(default_factory=dict)  # SERVICE nodes (not counted as nodes)
    provisioner: str | None = None
    submit_descriptions: dict[str, list[str]] = field(default_factory=dict)
    splices: dict[str, SpliceInfo] = field(default_factory=dict)
    pins_in: dict[int, list[str]] = field(default_factory=dict)  # PIN_IN declared in this (splice) file
    pins_out: dict[int, list[str]] = field(default_factory=dict)
    dot: DotConfig | None = None
    reject: str | None = None  # "file:line" of a REJECT command: DAGMan refuses to run the DAG
    notes: list[str] = field(default_factory=list)  # accepted-but-ignored commands, logged at start
    save_file_loaded: Path | None = None  # the save-point file the run starts from (-load_save)

    @property
    def directory(self) -> Path:
        return self.base_dir if self.base_dir is not None else self.path.parent

    def node_dir(self, node: NodeSpec) -> Path:
        """Directory a node submits from and runs its scripts in."""
        if node.directory is None:
            return self.directory
        return (self.directory / node.directory).resolve()
