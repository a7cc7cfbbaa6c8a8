"""The one engine interface the rest of WMS2 uses.  Nothing outside ``wms2.engines`` may know which
engine runs a DAG."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class EngineError(Exception):
    """Base class of engine errors."""


class ScheddUnreachable(EngineError):
    """The schedd (or the local pool daemon) did not answer."""


class ScheddsFull(EngineError):
    """Every schedd that answered is at its per-schedd cap (``engine.schedd_max_dags``/``_jobs``): the
    DAG waits for the next cycle; nothing is wrong."""


class JobUnknown(EngineError):
    """The schedd answered but has no such DAGMan job (neither in the queue nor in its history)."""


class BadDag(EngineError):
    """The DAG was refused before running (syntax, missing files, cycle...)."""


class DagJobState(StrEnum):
    """HTCondor JobStatus of the DAGMan job itself, as names."""

    idle = "idle"
    running = "running"
    held = "held"
    removed = "removed"
    completed = "completed"
    gone = "gone"  # no longer in the queue; see exit_info


@dataclass(frozen=True)
class SubmitOptions:
    rescue: int | None = None  # None = DAGMan's automatic rescue (newest .rescueNNN); N = that one
    force: bool = False  # -force: rename old outputs/rescues, start from scratch
    priority: int = 0
    batch_name: str | None = None
    max_idle: int | None = None
    max_jobs: int | None = None
    extra_attributes: dict[str, str] = field(default_factory=dict)  # +Attr = value on the DAGMan job
    load_save: str | None = None  # -load_save: start from this SAVE_POINT_FILE (bare name: save_files/)


@dataclass(frozen=True)
class SubmitResult:
    cluster_id: int
    schedd: str


@dataclass(frozen=True)
class DagJobInfo:
    """The engine's view of a DAGMan job (``query``)."""

    cluster_id: int
    schedd: str
    state: DagJobState
    counters: dict[str, int]  # DAG_NodesTotal, DAG_NodesDone, DAG_NodesFailed, DAG_NodesQueued, ...
    status: int | None = None  # DAG_Status
    hold_reason: str | None = None
    unmatched: dict[str, str] = field(default_factory=dict)  # node -> why its idle job can never match


@dataclass(frozen=True)
class DagExitInfo:
    """How a DAGMan job ended (``exit_info``), once it left the queue."""

    cluster_id: int
    schedd: str
    exit_code: int | None
    removed: bool
    reason: str


class Engine(ABC):
    """What WMS2 needs from an execution engine."""

    name: str

    @abstractmethod
    def submit_dag(self, dag_file: Path, options: SubmitOptions) -> SubmitResult: ...

    @abstractmethod
    def query(self, cluster_id: int, schedd: str) -> DagJobInfo: ...

    @abstractmethod
    def remove(self, cluster_id: int, schedd: str, reason: str) -> None: ...

    @abstractmethod
    def hold(self, cluster_id: int, schedd: str, reason: str) -> None: ...

    @abstractmethod
    def release(self, cluster_id: int, schedd: str) -> None: ...

    @abstractmethod
    def ping(self, schedd: str) -> bool: ...

    @abstractmethod
    def exit_info(self, cluster_id: int, schedd: str) -> DagExitInfo: ...

    def find_submitted(self, batch_name: str) -> SubmitResult | None:
        """The top-level DAGMan job submitted earlier with ``batch_name`` (running or finished), if the
        engine's own records have one; the newest when several.  The launcher names each DAG row's
        submission uniquely, so this finds a submission whose commit was lost (a crash between
        ``submit_dag`` and the database write) instead of submitting it a second time.  Raises
        ``ScheddUnreachable`` when a schedd that could hold it does not answer.  An engine that keeps
        no record of its submissions (the test engines) finds nothing."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (sockets, threads)."""
