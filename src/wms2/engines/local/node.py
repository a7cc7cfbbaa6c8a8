"""Runtime state of one DAG node and the macros its scripts see (reference §1.3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wms2.dagman.config_file import knob_bool, knob_int
from wms2.dagman.model import NodeSpec, NodeStatus

RETURN_SUBMIT_FAILED = -1001
RETURN_REMOVED = -1002
RETURN_PRE_FAILED = -1004


@dataclass(slots=True)
class NodeRun:
    spec: NodeSpec
    directory: Path
    seq: int  # position in DAG order
    status: NodeStatus = NodeStatus.NOT_READY
    details: str = ""
    retry: int = 0
    waiting: int = 0  # unfinished parents
    pre_return: int | None = None
    job_return: int = 0
    cluster: int | None = None
    last_proc: int = 0
    procs_left: int = 0
    procs_idle: int = 0
    exit_codes: list[int | None] = field(default_factory=list)
    aborted_procs: int = 0
    job_failed: bool = False
    job_details: str = ""
    was: NodeStatus | None = None  # status before a removal / abort (for "Was STATUS_X")
    pending_script: str | None = None  # "PRE"/"POST" waiting for a script slot (or for release)
    script_pid: int | None = None
    jobs: list[object] = field(default_factory=list)  # PoolJob or nested DagRun while submitted
    ran: bool = False
    save_written: bool = False  # SAVE_POINT_FILE already written (only on the first start)
    proc_failures: int = 0  # failed procs of the current job list (TOLERANCE)
    proc_total: int = 0

    @property
    def name(self) -> str:
        return self.spec.name

    def reset_for_retry(self) -> None:
        self.pre_return = None
        self.job_return = 0
        self.cluster = None
        self.procs_left = 0
        self.procs_idle = 0
        self.exit_codes = []
        self.aborted_procs = 0
        self.job_failed = False
        self.job_details = ""
        self.jobs = []
        self.proc_failures = 0


@dataclass
class DagCounts:
    total: int
    done: int
    queued: int
    failed: int
    futile: int


def script_macros(node: NodeRun, kind: str, dag_id: int, dag_status: int, counts: DagCounts) -> dict[str, str]:
    macros = {
        "$JOB": node.name, "$NODE": node.name, "$RETRY": str(node.retry),
        "$MAX_RETRIES": str(node.spec.retries), "$NODE_COUNT": str(counts.total),
        "$QUEUED_COUNT": str(counts.queued), "$DONE_COUNT": str(counts.done),
        "$FAILED_COUNT": str(counts.failed), "$FUTILE_COUNT": str(counts.futile), "$DAGID": str(dag_id),
        "$DAG_STATUS": str(dag_status),
    }
    if kind == "POST":
        codes = [c for c in node.exit_codes if c is not None]
        counted: dict[int, int] = {}
        for c in codes:
            counted[c] = counted.get(c, 0) + 1
        macros.update({
            "$JOBID": f"{node.cluster or 0}.{node.last_proc}", "$CLUSTERID": str(node.cluster or 0),
            "$JOB_COUNT": str(len(node.exit_codes)), "$SUCCESS": "True" if node.job_return == 0 else "False",
            "$RETURN": str(node.job_return), "$EXIT_CODES": ",".join(str(c) for c in sorted(counted)),
            "$EXIT_CODE_COUNTS": ",".join(f"{c}:{n}" for c, n in sorted(counted.items())),
            "$EXIT_CODE_LIST": ",".join("" if c is None else str(c) for c in node.exit_codes),
            "$PRE_SCRIPT_RETURN": str(node.pre_return if node.pre_return is not None else -1),
            "$JOB_ABORT_COUNT": str(node.aborted_procs),
        })
    return {k.upper(): v for k, v in macros.items()}


def script_argv(command: str, macros: dict[str, str], directory: Path) -> list[str]:
    """Split on whitespace (quotes are not interpreted) and substitute whole-token macros."""
    argv = [macros.get(tok.upper(), tok) for tok in command.split()]
    if argv and not argv[0].startswith("/"):
        candidate = directory / argv[0]
        if candidate.exists():
            argv[0] = str(candidate)
    return argv


@dataclass
class DagConfig:
    """The DAGMAN_* knobs that matter locally, from the per-DAG CONFIG file and submit options."""

    max_idle: int = 1000
    max_jobs: int = 0
    max_pre: int = 20
    max_post: int = 20
    max_submits_per_cycle: int = 100
    always_run_post: bool = False
    max_rescue: int = 100
    default_append_vars: bool = False
    retry_node_first: bool = False
    submit_depth_first: bool = False
    priority: int = 0
    auto_rescue: bool = True
    job_failure_tolerance: int = 0  # DAGMAN_NODE_JOB_FAILURE_TOLERANCE
    remove_job_list_on_failure: bool = True  # DAGMAN_REMOVE_JOB_LIST_ON_FAILURE

    @classmethod
    def from_knobs(cls, knobs: dict[str, str]) -> DagConfig:
        return cls(
            max_idle=knob_int(knobs, "DAGMAN_MAX_JOBS_IDLE", 1000),
            max_jobs=knob_int(knobs, "DAGMAN_MAX_JOBS_SUBMITTED", 0),
            max_pre=knob_int(knobs, "DAGMAN_MAX_PRE_SCRIPTS", 20),
            max_post=knob_int(knobs, "DAGMAN_MAX_POST_SCRIPTS", 20),
            max_submits_per_cycle=knob_int(knobs, "DAGMAN_MAX_SUBMITS_PER_INTERVAL", 100),
            always_run_post=knob_bool(knobs, "DAGMAN_ALWAYS_RUN_POST", False),
            max_rescue=knob_int(knobs, "DAGMAN_MAX_RESCUE_NUM", 100),
            default_append_vars=knob_bool(knobs, "DAGMAN_DEFAULT_APPEND_VARS", False),
            retry_node_first=knob_bool(knobs, "DAGMAN_RETRY_NODE_FIRST", False),
            submit_depth_first=knob_bool(knobs, "DAGMAN_SUBMIT_DEPTH_FIRST", False),
            priority=knob_int(knobs, "DAGMAN_DEFAULT_PRIORITY", 0),
            auto_rescue=knob_bool(knobs, "DAGMAN_AUTO_RESCUE", True),
            job_failure_tolerance=knob_int(knobs, "DAGMAN_NODE_JOB_FAILURE_TOLERANCE", 0),
            remove_job_list_on_failure=knob_bool(knobs, "DAGMAN_REMOVE_JOB_LIST_ON_FAILURE", True),
        )
