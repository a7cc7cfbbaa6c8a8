"""Translation of DAGMan job ClassAds into the engine's typed views.

Attribute names and values follow ``dagman-reference.md`` §4.5/§4.6 (DAGMan job ad, exit codes) and
§6.2 (``JobStatus`` values of the bindings).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wms2.engines.base import DagExitInfo, DagJobInfo, DagJobState

# HTCondor JobStatus codes (htcondor2.JobStatus, reference §6.2).
JOB_STATUS_IDLE = 1
JOB_STATUS_RUNNING = 2
JOB_STATUS_REMOVED = 3
JOB_STATUS_COMPLETED = 4
JOB_STATUS_HELD = 5
JOB_STATUS_TRANSFERRING_OUTPUT = 6
JOB_STATUS_SUSPENDED = 7

# Scheduler universe: the universe of every DAGMan job (reference §4.6, ``JobUniverse=7``).
SCHEDULER_UNIVERSE = 7

_STATE_BY_STATUS: dict[int, DagJobState] = {
    JOB_STATUS_IDLE: DagJobState.idle,
    JOB_STATUS_RUNNING: DagJobState.running,
    JOB_STATUS_REMOVED: DagJobState.removed,
    JOB_STATUS_COMPLETED: DagJobState.completed,
    JOB_STATUS_HELD: DagJobState.held,
    # DAGMan keeps running while its own (tiny) output is transferred.
    JOB_STATUS_TRANSFERRING_OUTPUT: DagJobState.running,
    # A suspended DAGMan makes no progress: reported like a hold (reason says "suspended").
    JOB_STATUS_SUSPENDED: DagJobState.held,
}

# DAG_Status / $DAG_STATUS values (reference §4.6).
DAG_STATUS_NAMES: dict[int, str] = {
    0: "OK",
    1: "ERROR",
    2: "NODE_FAILED",
    3: "ABORT",
    4: "RM",
    5: "CYCLE",
    6: "HALTED",
}

# condor_dagman exit codes (reference §4.5).
DAGMAN_EXIT_MEANING: dict[int, str] = {
    0: "success",
    1: "failure (node failure, error or halt)",
    2: "aborted (condor_rm, corrupt node log, or FINAL ended with jobs queued)",
    3: "restart (hold, schedd shutdown or lock held)",
}

# Integer counters of the DAGMan job ad (reference §4.6), copied into DagJobInfo.counters.
DAG_COUNTER_ATTRIBUTES: tuple[str, ...] = (
    "DAG_InRecovery",
    "DAG_AdUpdateTime",
    "DAG_NodesTotal",
    "DAG_NodesDone",
    "DAG_NodesPrerun",
    "DAG_NodesQueued",
    "DAG_NodesPostrun",
    "DAG_NodesHoldrun",
    "DAG_NodesReady",
    "DAG_NodesUnready",
    "DAG_NodesFailed",
    "DAG_NodesFutile",
    "DAG_JobsSubmitted",
    "DAG_JobsIdle",
    "DAG_JobsHeld",
    "DAG_JobsRunning",
    "DAG_JobsCompleted",
    "DAGMan_MaxJobs",
    "DAGMan_MaxIdle",
    "DAGMan_MaxPreScripts",
    "DAGMan_MaxPostScripts",
)

QUERY_PROJECTION: list[str] = [
    "ClusterId",
    "ProcId",
    "JobStatus",
    "JobUniverse",
    "HoldReason",
    "DAG_Status",
    *DAG_COUNTER_ATTRIBUTES,
]

HISTORY_PROJECTION: list[str] = [
    "ClusterId",
    "ProcId",
    "JobStatus",
    "ExitCode",
    "ExitBySignal",
    "ExitSignal",
    "RemoveReason",
    "HoldReason",
    "DAG_Status",
    *DAG_COUNTER_ATTRIBUTES,
]


def dagman_job_constraint(cluster_id: int) -> str:
    """The ClassAd constraint selecting the DAGMan job ``cluster_id.0``."""
    return f"ClusterId == {int(cluster_id)} && ProcId == 0"


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def counters_of(ad: Mapping[str, Any]) -> dict[str, int]:
    counters: dict[str, int] = {}
    for name in DAG_COUNTER_ATTRIBUTES:
        value = _as_int(ad.get(name))
        if value is not None:
            counters[name] = value
    return counters


def job_info_from_queue_ad(ad: Mapping[str, Any], cluster_id: int, schedd: str) -> DagJobInfo:
    """A DAGMan job found in the queue."""
    status = _as_int(ad.get("JobStatus"))
    state = _STATE_BY_STATUS.get(status if status is not None else -1)
    if state is None:
        raise ValueError(f"DAGMan job {cluster_id}.0 on {schedd}: unexpected JobStatus {ad.get('JobStatus')!r}")
    hold_reason = _as_str(ad.get("HoldReason"))
    if status == JOB_STATUS_SUSPENDED and hold_reason is None:
        hold_reason = "suspended"
    return DagJobInfo(
        cluster_id=cluster_id,
        schedd=schedd,
        state=state,
        counters=counters_of(ad),
        status=_as_int(ad.get("DAG_Status")),
        hold_reason=hold_reason if state is DagJobState.held else None,
    )


def job_info_from_history_ad(ad: Mapping[str, Any], cluster_id: int, schedd: str) -> DagJobInfo:
    """A DAGMan job that has left the queue: its last counters come from the history ad."""
    return DagJobInfo(
        cluster_id=cluster_id,
        schedd=schedd,
        state=DagJobState.gone,
        counters=counters_of(ad),
        status=_as_int(ad.get("DAG_Status")),
    )


def exit_info_from_history_ad(ad: Mapping[str, Any], cluster_id: int, schedd: str) -> DagExitInfo:
    """How a DAGMan job ended, from its history ad."""
    job_status = _as_int(ad.get("JobStatus"))
    removed = job_status == JOB_STATUS_REMOVED
    dag_status = _as_int(ad.get("DAG_Status"))
    exit_code = None if ad.get("ExitBySignal") is True else _as_int(ad.get("ExitCode"))
    parts: list[str] = []
    if removed:
        parts.append(f"removed: {_as_str(ad.get('RemoveReason')) or 'no reason recorded'}")
    if ad.get("ExitBySignal") is True:
        parts.append(f"condor_dagman killed by signal {_as_int(ad.get('ExitSignal'))}")
    elif exit_code is not None:
        meaning = DAGMAN_EXIT_MEANING.get(exit_code, "ABORT-DAG-ON return value")
        parts.append(f"condor_dagman exited {exit_code} ({meaning})")
    elif not removed:
        parts.append(f"left the queue with JobStatus {job_status} and no exit code")
    if dag_status is not None:
        parts.append(f"DAG_Status {dag_status} ({DAG_STATUS_NAMES.get(dag_status, 'unknown')})")
    return DagExitInfo(
        cluster_id=cluster_id, schedd=schedd, exit_code=exit_code, removed=removed, reason="; ".join(parts)
    )
