"""DAG Monitor (design §4): the state of one DAG from DAGMan's own files and the engine's view.

Reads the *outer* node status file (one node per work unit) and, for WUs newly completed since the
last poll, their ``merge_output.json`` / ``work_unit_metrics.json``; for running WUs it reads their
inner status files to count nodes by role.  Cost grows with WUs, never with jobs.  At DAG exit it
does not trust the status file alone (DAGMan may skip its last rewrite): the metrics file, the newest
rescue DAG and the engine's exit code are cross-checked.  No side effects on request status.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from wms2.dagman.metrics import read_metrics
from wms2.dagman.model import NodeStatus
from wms2.dagman.rescue import newest_rescue, read_rescue
from wms2.dagman.status_file import DagStatusFile, read_status_file
from wms2.engines.base import DagJobState, Engine, EngineError, JobUnknown
from wms2.sandbox.results import (
    ELECTED_SITE_FILE,
    MERGE_OUTPUT_FILE,
    WORK_UNIT_METRICS_FILE,
    MergeOutput,
    WorkUnitMetrics,
)

log = logging.getLogger(__name__)

OUTER_DAG = "workflow.dag"
STATUS_SUFFIX = ".status"
ROLE_PREFIXES = (("landing", "Landing"), ("proc_", "Processing"), ("merge", "Merge"), ("cleanup", "Cleanup"))


@dataclass
class CompletedWorkUnit:
    name: str
    site: str | None
    output: MergeOutput
    metrics: WorkUnitMetrics | None

    def as_record(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "files": [f.model_dump(mode="json") for f in self.output.files],
            "processed_input_lfns": self.output.processed_input_lfns,
            "metrics": self.metrics.model_dump(mode="json") if self.metrics else None,
            "registered": False,
        }


@dataclass
class DagPoll:
    wu_counts: dict[str, int]
    node_counts: dict[str, int]
    by_role: dict[str, dict[str, int]]
    engine_state: DagJobState | None
    finished: bool = False
    succeeded: bool = False
    exit_code: int | None = None
    removed: bool = False
    failed_work_units: list[str] = field(default_factory=list)
    newly_completed: list[CompletedWorkUnit] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    detail: str = ""


def _role(node: str) -> str:
    for prefix, role in ROLE_PREFIXES:
        if node.startswith(prefix):
            return role
    return "Other"


_STATE_NAMES = {NodeStatus.DONE: "done", NodeStatus.ERROR: "failed", NodeStatus.FUTILE: "failed",
                NodeStatus.SUBMITTED: "running", NodeStatus.PRERUN: "running", NodeStatus.POSTRUN: "running",
                NodeStatus.READY: "idle", NodeStatus.NOT_READY: "idle"}


def _count(status: DagStatusFile | None, total: int) -> dict[str, int]:
    counts = {"total": total, "done": 0, "running": 0, "idle": 0, "failed": 0, "held": 0}
    if status is None:
        counts["idle"] = total
        return counts
    for node in status.nodes:
        counts[_STATE_NAMES.get(NodeStatus(node.status), "idle")] += 1
        counts["held"] += node.procs_held
    return counts


class DagMonitor:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def poll(self, submit_dir: Path, cluster_id: int | None, schedd: str | None, total_wus: int,
             already_completed: set[str]) -> DagPoll:
        dag_file = submit_dir / OUTER_DAG
        status = self._read_status(dag_file)
        wu_counts = _count(status, total_wus)
        engine_state = self._engine_state(cluster_id, schedd)
        poll = DagPoll(wu_counts=wu_counts, node_counts={}, by_role={}, engine_state=engine_state)
        done_now = {n.node for n in status.nodes if n.status == NodeStatus.DONE} if status else set()
        self._inner_counts(submit_dir, status, poll)
        finished = engine_state in (DagJobState.gone, DagJobState.completed, DagJobState.removed)
        if finished:
            self._finish(dag_file, cluster_id, schedd, status, poll, done_now)
        for wu in sorted(done_now - already_completed):
            completed = self._completed(submit_dir / wu, wu)
            if completed is None:
                poll.unreadable.append(wu)
            else:
                poll.newly_completed.append(completed)
        return poll

    # -- pieces ----------------------------------------------------------------------------------
    @staticmethod
    def _read_status(dag_file: Path) -> DagStatusFile | None:
        path = dag_file.with_name(dag_file.name + STATUS_SUFFIX)
        try:
            return read_status_file(path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("unreadable status file %s: %s", path, exc)
            return None

    def _engine_state(self, cluster_id: int | None, schedd: str | None) -> DagJobState | None:
        if cluster_id is None or schedd is None:
            return None
        try:
            return self.engine.query(cluster_id, schedd).state
        except JobUnknown:
            return DagJobState.gone

    def _inner_counts(self, submit_dir: Path, status: DagStatusFile | None, poll: DagPoll) -> None:
        """Per-role node counts from the inner status files of WUs that are running right now."""
        by_role: dict[str, dict[str, int]] = {}
        if status is None:
            return
        for node in status.nodes:
            if node.status not in (NodeStatus.SUBMITTED, NodeStatus.PRERUN, NodeStatus.POSTRUN):
                continue
            inner = self._read_status(submit_dir / node.node / "group.dag")
            if inner is None:
                continue
            for entry in inner.nodes:
                role = by_role.setdefault(_role(entry.node), {"done": 0, "running": 0, "idle": 0, "failed": 0,
                                                              "held": 0})
                role[_STATE_NAMES.get(NodeStatus(entry.status), "idle")] += 1
                role["held"] += entry.procs_held
        poll.by_role = by_role
        poll.node_counts = {k: sum(r[k] for r in by_role.values()) for k in ("done", "running", "idle", "failed",
                                                                             "held")}

    def _finish(self, dag_file: Path, cluster_id: int | None, schedd: str | None,
                status: DagStatusFile | None, poll: DagPoll, done_now: set[str]) -> None:
        """Cross-check the end of the DAG: exit code, metrics, rescue file, status file."""
        exit_code: int | None = None
        reason = ""
        if cluster_id is not None and schedd is not None:
            try:
                info = self.engine.exit_info(cluster_id, schedd)
                exit_code, poll.removed, reason = info.exit_code, info.removed, info.reason
            except EngineError as exc:
                reason = f"engine has no exit information: {exc}"
        metrics_path = dag_file.with_name(dag_file.name + ".metrics")
        if metrics_path.is_file():
            try:
                metrics = read_metrics(metrics_path)
                exit_code = exit_code if exit_code is not None else int(metrics.get("exitcode", 1))
            except (OSError, ValueError) as exc:
                log.warning("unreadable metrics %s: %s", metrics_path, exc)
        rescue = newest_rescue(dag_file)
        failed: set[str] = set()
        if status is not None:
            failed |= {n.node for n in status.nodes if n.status in (NodeStatus.ERROR, NodeStatus.FUTILE)}
        if rescue is not None and (exit_code or 0) != 0:
            rdag = read_rescue(rescue[1])
            done_now |= set(rdag.done)
            if status is not None:
                failed |= {n.node for n in status.nodes} - set(rdag.done)
        poll.finished = True
        poll.exit_code = exit_code
        poll.succeeded = exit_code == 0 and not failed and not poll.removed
        poll.failed_work_units = sorted(failed - done_now)
        poll.detail = reason

    @staticmethod
    def _completed(wu_dir: Path, name: str) -> CompletedWorkUnit | None:
        try:
            output = MergeOutput.model_validate_json((wu_dir / MERGE_OUTPUT_FILE).read_text())
        except (OSError, ValidationError) as exc:
            log.warning("work unit %s: no readable %s: %s", name, MERGE_OUTPUT_FILE, exc)
            return None
        metrics: WorkUnitMetrics | None = None
        try:
            metrics = WorkUnitMetrics.model_validate_json((wu_dir / WORK_UNIT_METRICS_FILE).read_text())
        except (OSError, ValidationError) as exc:
            log.info("work unit %s: no metrics: %s", name, exc)
        site_file = wu_dir / ELECTED_SITE_FILE
        site = site_file.read_text().strip() if site_file.is_file() else output.site
        return CompletedWorkUnit(name=name, site=site or None, output=output, metrics=metrics)
