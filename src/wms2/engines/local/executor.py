"""One DAG run: DAGMan's node state machine (reference §1.4, §8) on top of the local pool.

The run is driven by its host (the scheduler loop): ``step()`` starts scripts and submits jobs within
the throttles, and process exits come back through callbacks.  Nothing here sleeps.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from wms2.dagman.dagman_out import DagmanOut
from wms2.dagman.eventlog import NOOP_CLUSTER, NOOP_PROC, Event, EventLogWriter, EventType, log_size
from wms2.dagman.jobstate import JobstateLog
from wms2.dagman.model import DagSpec, DagStatusCode, ExitCode, NodeStatus
from wms2.dagman.parser import find_cycle
from wms2.dagman.submit import SubmitError, parse_inline_submit, parse_submit
from wms2.engines.local.control import ACTIVE, RunControl
from wms2.engines.local.extras import PROVISIONER_NOTE, RunExtras
from wms2.engines.local.jobs import JobExit, PoolJob, build_jobs
from wms2.engines.local.node import (
    RETURN_REMOVED,
    RETURN_SUBMIT_FAILED,
    DagConfig,
    DagCounts,
    NodeRun,
)
from wms2.engines.local.pool import Pool
from wms2.engines.local.reaper import Reaper
from wms2.engines.local.reports import RunReports
from wms2.engines.local.scripts import ScriptStage

log = logging.getLogger(__name__)
MAX_REPORTED_FAILURES = 100  # failed nodes listed in dagman.out at the end (the rest are in the status file)
LIST_FAILED_REASON = "DAG Abort: job list failed (DAGMAN_REMOVE_JOB_LIST_ON_FAILURE)."


class Host(Protocol):
    pool: Pool
    reaper: Reaper
    status_scan_s: float  # status files are rewritten at most this often

    def new_cluster(self) -> int: ...

    def start_subdag(self, parent: DagRun, node: NodeRun, dag_file: Path, priority: int) -> DagRun: ...

    def run_finished(self, run: DagRun) -> None: ...

    def add_timer(self, when: float, callback: Callable[[], None]) -> None: ...


class DagRun(ScriptStage, RunExtras, RunControl):
    def __init__(self, spec: DagSpec, cluster: int, host: Host, config: DagConfig,
                 parent_cluster: int | None = None, batch_name: str | None = None) -> None:
        self.spec, self.cluster, self.host, self.config = spec, cluster, host, config
        self.parent_cluster = parent_cluster
        self.batch_name = batch_name or f"{spec.path.name}+{cluster}"
        base = str(spec.path)
        self.nodes_log_path = Path(base + ".nodes.log")
        self.lock_path = Path(base + ".lock")
        self.log = EventLogWriter(self.nodes_log_path)
        self.out = DagmanOut(Path(base + ".dagman.out"), cluster)
        self.jobstate = JobstateLog(spec.directory / spec.jobstate_log) if spec.jobstate_log else None
        self.nodes: dict[str, NodeRun] = {}
        self.counts: dict[NodeStatus, int] = dict.fromkeys(NodeStatus, 0)
        self._ready: dict[str | None, list[tuple[int, int, str]]] = {}
        self._ready_seq = 0
        self._prepend_seq = 0
        self.category_running: dict[str, int] = {}
        self.clusters_submitted = 0
        self.idle_procs = 0
        self.scripts_running = {"PRE": 0, "POST": 0}
        self._script_queue: list[tuple[str, str]] = []
        self._script_procs: dict[str, subprocess.Popen[bytes]] = {}
        self._killed: set[int] = set()
        self.live_jobs = 0
        self.phase = "running"  # running -> final -> done
        self.held = False
        self.dag_status = DagStatusCode.OK
        self.exit_code: int | None = None
        self.end_reason = ""
        self.stopping: str | None = None  # None, "abort", "remove"
        self.failed_count = 0
        self.jobs_submitted = 0
        self.jobs_succeeded = 0
        self.start_time = time.time()
        self.end_time: float | None = None
        self.log_offset = 0
        self.reports = RunReports(self)
        self.on_finished: list[Callable[[DagRun], None]] = []
        self.unmatched: dict[str, str] = {}
        self.record_force = False
        self.removed_count = 0  # nodes DAGMan itself removed (not failures: $FAILED_COUNT skips them)
        self.services: dict[str, NodeRun] = {}
        self.provisioning = False
        self.dot_count = 0
        self.dot_dirty = False

    # -- setup -----------------------------------------------------------------------------------
    def start(self, recovering: bool = False) -> None:
        if not recovering:
            self.log_offset = log_size(self.nodes_log_path)
        self.out.banner()
        self.out.log(f"Dag contains {len(self.spec.nodes)} total nodes")
        for note in self.spec.notes:
            self.out.log(f"Note: {note}")
        if self.spec.provisioner is not None:
            self.out.log(f"Note: {PROVISIONER_NOTE}")
        if self.spec.env or self.spec.job_attrs:
            self.out.log("Note: ENV and SET_JOB_ATTR shape the DAGMan job at submit time; the local engine "
                         "records them and they change nothing here")
        if self.spec.rescue_file:
            self.out.log(f"Parsing rescue DAG {self.spec.rescue_file}")
        self.lock_path.write_text(f"{self.cluster}\n")
        if self.jobstate:
            self.jobstate.internal(f"DAGMAN_STARTED {self.cluster}.0")
        for seq, spec in enumerate(self.spec.nodes.values()):
            node = NodeRun(spec=spec, directory=self.spec.node_dir(spec), seq=seq)
            self.nodes[spec.name] = node
            self.counts[NodeStatus.NOT_READY] += 1
            if spec.done:
                self._set(node, NodeStatus.DONE, "User defined as DONE")
        self.count_waiting()

    def count_waiting(self) -> None:
        """Unfinished parents of every node (a WEAK parent only has to have finished)."""
        for node in self.nodes.values():
            node.waiting = sum(1 for p in node.spec.parents if not self._parent_finished(node, self.nodes[p]))

    @staticmethod
    def _parent_finished(child: NodeRun, parent: NodeRun) -> bool:
        if parent.status == NodeStatus.DONE:
            return True
        return parent.status == NodeStatus.ERROR and parent.name in child.spec.weak_parents

    def begin(self) -> None:
        """Queue the initially ready nodes (after ``start`` and any recovery replay)."""
        self.start_services()
        provisioner = self.nodes.get(self.spec.provisioner) if self.spec.provisioner else None
        # (after a pool restart a provisioner found submitted already counts as provisioned)
        self.provisioning = provisioner is not None and provisioner.status == NodeStatus.NOT_READY
        for node in self.nodes.values():
            if node.status == NodeStatus.NOT_READY and node.waiting == 0 and not node.spec.is_final:
                if self.provisioning and node is not provisioner:
                    continue
                self._make_ready(node)
        self.write_dot()
        self.reports.mark_dirty()
        self._check_progress()

    # -- bookkeeping -----------------------------------------------------------------------------
    def _set(self, node: NodeRun, status: NodeStatus, details: str | None = None) -> None:
        self.counts[node.status] -= 1
        self.counts[status] += 1
        node.status = status
        if details is not None:
            node.details = details
        self.reports.mark_dirty()
        self.dot_dirty = True

    def failed_nodes(self) -> int:
        """Nodes that failed; the ones DAGMan removed itself (abort, removal) are not failures."""
        return self.counts[NodeStatus.ERROR] - self.removed_count

    def dag_counts(self) -> DagCounts:
        return DagCounts(total=len(self.nodes), done=self.counts[NodeStatus.DONE],
                         queued=self.counts[NodeStatus.SUBMITTED], failed=self.failed_nodes(),
                         futile=self.counts[NodeStatus.FUTILE])

    def effective_priority(self, node: NodeRun) -> int:
        return node.spec.priority + self.config.priority

    def _make_ready(self, node: NodeRun, front: bool = False) -> None:
        if self.stopping and not node.spec.is_final:
            return
        self.write_save_point(node)
        if node.spec.pre is not None:
            self._set(node, NodeStatus.PRERUN, "")
            self._queue_script(node, "PRE")
            return
        self._set(node, NodeStatus.READY, "")
        if node.spec.is_final:
            self._submit(node)  # the FINAL node bypasses the throttles
            return
        self._push_ready(node, front or self.config.submit_depth_first)

    def _push_ready(self, node: NodeRun, front: bool) -> None:
        if front:
            self._prepend_seq -= 1
            seq = self._prepend_seq
        else:
            self._ready_seq += 1
            seq = self._ready_seq
        heap = self._ready.setdefault(node.spec.category, [])
        heapq.heappush(heap, (-self.effective_priority(node), seq, node.name))

    # -- the cycle -------------------------------------------------------------------------------
    def step(self) -> None:
        if self.phase == "done":
            return
        self._pump_scripts()
        if not self.held and not self.stopping:
            self._submit_ready()
        self.reports.maybe_write_status()
        self.maybe_update_dot()

    def _submit_ready(self) -> None:
        submitted = 0
        while submitted < self.config.max_submits_per_cycle:
            if self.config.max_jobs and self.clusters_submitted >= self.config.max_jobs:
                return
            if self.config.max_idle and self.idle_procs >= self.config.max_idle:
                return
            best: tuple[tuple[int, int, str], str | None] | None = None
            for category, heap in self._ready.items():
                if not heap:
                    continue
                limit = self.spec.maxjobs.get(category) if category is not None else None
                if limit is not None and self.category_running.get(category, 0) >= limit:
                    continue
                if best is None or heap[0] < best[0]:
                    best = (heap[0], category)
            if best is None:
                return
            heapq.heappop(self._ready[best[1]])
            self._submit(self.nodes[best[0][2]])
            submitted += 1

    # -- jobs ------------------------------------------------------------------------------------
    def _submit(self, node: NodeRun) -> None:
        node.ran = True
        category = node.spec.category
        if category is not None:
            self.category_running[category] = self.category_running.get(category, 0) + 1
        self.clusters_submitted += 1
        if node.spec.noop:
            self._submit_noop(node)
            return
        if node.spec.is_subdag:
            self._submit_subdag(node)
            return
        cluster = self.host.new_cluster()
        try:
            jobs = self._build_jobs(node, cluster)
        except SubmitError as exc:
            self.out.log(f"ERROR: submit of node {node.name} failed: {exc}")
            node.cluster = cluster
            node.exit_codes = [None]
            self._set(node, NodeStatus.SUBMITTED, "")
            node.job_failed, node.job_details = True, f"Job submit failed: {exc}"
            node.job_return = RETURN_SUBMIT_FAILED
            self._job_list_done(node)
            return
        node.cluster, node.procs_left, node.procs_idle = cluster, len(jobs), len(jobs)
        node.proc_total = len(jobs)
        node.exit_codes, node.jobs = [], list(jobs)
        self._set(node, NodeStatus.SUBMITTED, "idle")
        self.out.log(f"Submitting HTCondor Node {node.name} job(s)...")
        self.out.log(f"assigned HTCondor ID ({cluster}.0.0)")
        now = time.time()
        for job in jobs:
            self.log.write(Event(EventType.SUBMIT, cluster, job.proc, now, node=node.name))
            if self.jobstate:
                self.jobstate.node(node.name, "SUBMIT", f"{cluster}.{job.proc}", node.retry + 1)
            job.on_execute = lambda j, n=node: self._job_executing(n, j)
            job.on_exit = lambda j, r, n=node: self._job_exited(n, j, r)
            self.idle_procs += 1
            self.live_jobs += 1
            self.jobs_submitted += 1
            self.host.pool.submit(job, self.effective_priority(node))
            if job.idle_reason:
                self.unmatched[node.name] = job.idle_reason
                self.out.log(f"Node {node.name} job {job.job_id} stays idle: {job.idle_reason}")

    def _build_jobs(self, node: NodeRun, cluster: int) -> list[PoolJob]:
        prepend = {"JOB": node.name, "RETRY": str(node.retry), "DAG_STATUS": str(int(self.dag_status)),
                   "FAILED_COUNT": str(self.failed_nodes()), "DAGManJobId": str(self.cluster)}
        if node.spec.parents:
            prepend["DAG_PARENT_NAMES"] = ",".join(node.spec.parents)[:2000]
        prio = self.effective_priority(node)
        if prio:
            prepend["priority"] = str(prio)
        append = dict(node.spec.append_vars)
        if self.config.default_append_vars:
            append = {**node.spec.vars, **append}
        else:
            prepend.update(node.spec.vars)
        if node.spec.inline_submit is not None:
            desc = parse_inline_submit(node.spec.inline_submit, node.directory / node.spec.submit, prepend, append)
        else:
            desc = parse_submit(node.directory / node.spec.submit, prepend, append)
        attrs = {"DAGManJobId": str(self.cluster), "DAGNodeName": f'"{node.name}"',
                 "DAGManNodesLog": f'"{self.nodes_log_path}"', "JobBatchName": f'"{self.batch_name}"'}
        if node.spec.parents:
            attrs["DAGParentNodeNames"] = '"' + ",".join(node.spec.parents)[:2000] + '"'
        return build_jobs(desc, node.directory, cluster, self.cluster, node.name, attrs)

    def _submit_noop(self, node: NodeRun) -> None:
        now = time.time()
        self._set(node, NodeStatus.SUBMITTED, "")
        node.cluster, node.exit_codes = NOOP_CLUSTER, [0]
        self.log.write(Event(EventType.SUBMIT, NOOP_CLUSTER, NOOP_PROC, now, node=node.name,
                             host="<dummy-submit-for-noop-job>"))
        self.log.write(Event(EventType.JOB_TERMINATED, NOOP_CLUSTER, NOOP_PROC, now, return_value=0))
        self._job_list_done(node)

    def _submit_subdag(self, node: NodeRun) -> None:
        dag_file = node.directory / node.spec.submit
        self._set(node, NodeStatus.SUBMITTED, "")
        try:
            inner = self.host.start_subdag(self, node, dag_file, self.effective_priority(node))
        except (OSError, ValueError) as exc:
            self.out.log(f"ERROR: submit of sub-DAG node {node.name} failed: {exc}")
            node.exit_codes = [None]
            node.job_failed, node.job_details = True, f"Job submit failed: {exc}"
            node.job_return = RETURN_SUBMIT_FAILED
            self._job_list_done(node)
            return
        node.cluster, node.procs_left, node.jobs = inner.cluster, 1, [inner]
        self.jobs_submitted += 1
        self.live_jobs += 1
        now = time.time()
        self.log.write(Event(EventType.SUBMIT, inner.cluster, 0, now, node=node.name))
        self.log.write(Event(EventType.EXECUTE, inner.cluster, 0, now))
        inner.on_finished.append(lambda run, n=node: self._subdag_exited(n, run))

    def _subdag_exited(self, node: NodeRun, inner: DagRun) -> None:
        code = inner.exit_code if inner.exit_code is not None else int(ExitCode.ERROR)
        self.subdag_finished(node, code, inner.cluster)

    def subdag_finished(self, node: NodeRun, code: int, cluster: int) -> None:
        """The nested DAGMan of a SUBDAG node exited with ``code`` (its job exit code)."""
        self.host.add_timer(0.0, lambda: self._job_exited(node, None, JobExit(code), cluster))

    def _job_executing(self, node: NodeRun, job: PoolJob) -> None:
        node.procs_idle -= 1
        self.idle_procs -= 1
        self.unmatched.pop(node.name, None)
        if node.procs_idle == 0:
            node.details = "not_idle"
        if node.spec.kind == "PROVISIONER":
            self.provisioned()
        self.log.write(Event(EventType.EXECUTE, job.cluster, job.proc, time.time(),
                             host=f"<127.0.0.1:0?alias={job.site}>"))
        if self.jobstate:
            self.jobstate.node(node.name, "EXECUTE", job.job_id, node.retry + 1)

    def _job_exited(self, node: NodeRun, job: PoolJob | None, result: JobExit, cluster: int = 0) -> None:
        cluster = job.cluster if job else cluster
        proc = job.proc if job else 0
        if self.phase == "done":
            return  # a late exit after the run ended (its log is closed)
        self.live_jobs -= 1
        if job is not None and job.pid is None:  # removed before it started
            node.procs_idle -= 1
            self.idle_procs -= 1
        node.last_proc = proc
        now = time.time()
        if result.removed_reason is not None:
            self.log.write(Event(EventType.JOB_ABORTED, cluster, proc, now, reason=result.removed_reason))
            node.aborted_procs += 1
            node.exit_codes.append(None)
            code: int | None = RETURN_REMOVED
            detail = f"Job proc ({cluster}.{proc}.0) was removed: {result.removed_reason}"
        else:
            self.log.write(Event(EventType.JOB_TERMINATED, cluster, proc, now, return_value=result.return_value,
                                 signal=result.signal))
            node.exit_codes.append(result.return_value)
            code = -result.signal if result.signal else result.return_value
            detail = (f"Job proc ({cluster}.{proc}.0) failed with signal {result.signal}" if result.signal
                      else f"Job proc ({cluster}.{proc}.0) failed with status {result.return_value}")
        if self.jobstate:
            self.jobstate.node(node.name, "JOB_TERMINATED", f"{cluster}.{proc}", node.retry + 1)
        self.out.log(f"Node {node.name} job proc ({cluster}.{proc}.0) completed successfully." if code == 0
                     else f"Node {node.name} {detail[0].lower()}{detail[1:]}.")
        node.procs_left -= 1
        if code == 0:
            self.jobs_succeeded += 1
        elif not node.job_failed and not result.by_dagman:
            node.proc_failures += 1
            if node.proc_failures > self._tolerance(node):
                node.job_failed, node.job_details, node.job_return = True, detail, code or 1
                fail_fast = node.spec.fail_fast
                if fail_fast if fail_fast is not None else self.config.remove_job_list_on_failure:
                    self._remove_rest(node, LIST_FAILED_REASON)
        if node.procs_left <= 0:
            self._job_list_done(node)
        elif self.stopping:
            self._check_progress()

    def _tolerance(self, node: NodeRun) -> int:
        """Failed procs a job list tolerates (TOLERANCE, else DAGMAN_NODE_JOB_FAILURE_TOLERANCE)."""
        spec = node.spec
        if spec.tolerance is None:
            return self.config.job_failure_tolerance
        return spec.tolerance * node.proc_total // 100 if spec.tolerance_pct else spec.tolerance

    def _remove_rest(self, node: NodeRun, reason: str) -> None:
        for job in node.jobs:
            if isinstance(job, PoolJob) and job.state.value in ("idle", "running"):
                self.host.pool.remove(job, reason, by_dagman=True)

    def _job_list_done(self, node: NodeRun) -> None:
        category = node.spec.category
        if category is not None:
            self.category_running[category] -= 1
        self.clusters_submitted -= 1
        self.unmatched.pop(node.name, None)
        node.jobs = []
        if self.jobstate:
            self.jobstate.node(node.name, "JOB_FAILURE" if node.job_failed else "JOB_SUCCESS",
                               f"{node.cluster}.0", node.retry + 1)
        if self.stopping and not node.spec.is_final:
            self._check_progress()
            return
        if node.spec.post is not None:
            self._set(node, NodeStatus.POSTRUN, "")
            self._queue_script(node, "POST")
            return
        self._node_result(node, node.job_return if node.job_failed else 0, node.job_details)

    # -- results ---------------------------------------------------------------------------------
    def _node_result(self, node: NodeRun, rc: int, details: str, skipped: bool = False) -> None:
        spec = node.spec
        if spec.abort_on is not None and rc == spec.abort_on and not spec.is_final:
            self._set(node, NodeStatus.DONE if rc == 0 else NodeStatus.ERROR, details)
            if rc != 0:
                self.failed_count += 1
            ret = spec.abort_return if spec.abort_return is not None else rc
            self.out.log(f"Aborting DAG because node {node.name} returned {rc} (ABORT-DAG-ON)")
            self.abort(ret)
            return
        if rc == 0:
            self._set(node, NodeStatus.DONE, "")
            if spec.kind == "PROVISIONER":
                self.provisioned()
            if spec.is_final:
                self._check_progress()
                return
            for child_name in spec.children:
                child = self.nodes[child_name]
                child.waiting -= 1
                if child.waiting == 0 and child.status == NodeStatus.NOT_READY:
                    self._make_ready(child)
            self._check_progress()
            return
        unless = spec.unless_exit if spec.unless_exit not in (None, 0) else None
        if (node.retry < spec.retries and rc != unless and self.phase == "running"
                and not self.stopping and not spec.is_final):
            node.retry += 1
            node.reset_for_retry()
            self.out.log(f"Retrying node {node.name} (retry #{node.retry} of {spec.retries})...")
            self._set(node, NodeStatus.NOT_READY, "")
            self._make_ready(node, front=self.config.retry_node_first)
            return
        if node.retry > 0:
            details = f"{details} (after {node.retry} node retries)"
        self._set(node, NodeStatus.ERROR, details)
        self.failed_count += 1
        self.out.log(f"Node {node.name} failed: {details}")
        if spec.kind == "PROVISIONER" and self.provisioning:
            self.out.log(f"ERROR: provisioner node {node.name} ended before provisioning completed")
            self.abort(int(ExitCode.ERROR))
            return
        self._mark_futile(node)
        for child_name in spec.children:  # WEAK children only needed the parent to finish
            child = self.nodes[child_name]
            if node.name in child.spec.weak_parents and child.status == NodeStatus.NOT_READY:
                child.waiting -= 1
                if child.waiting == 0 and not self.provisioning:
                    self._make_ready(child)
        self._check_progress()

    def _mark_futile(self, node: NodeRun) -> None:
        """Descendants through strong edges never run; anything below a node that never ran neither."""
        stack = [c for c in node.spec.children if node.name not in self.nodes[c].spec.weak_parents]
        while stack:
            child = self.nodes[stack.pop()]
            if child.status in (NodeStatus.NOT_READY, NodeStatus.READY):
                self._set(child, NodeStatus.FUTILE, "Had an ancestor node fail")
                stack.extend(child.spec.children)

    def _busy(self) -> bool:
        active = sum(self.counts[s] for s in ACTIVE) + self.counts[NodeStatus.READY]
        return active > 0

    def _check_progress(self) -> None:
        if self.phase == "done" or self._busy():
            return
        if self.stopping and (self.live_jobs > 0 or self._script_procs):
            return  # wait until the removed jobs and killed scripts are gone
        final = self.nodes.get(self.spec.final) if self.spec.final else None
        if self.phase == "final":
            if final is not None and final.status in (NodeStatus.DONE, NodeStatus.ERROR):
                self._finish_after_final(final)
            return
        if self.stopping:
            self._start_final_or_finish()
            return
        failed = self.counts[NodeStatus.ERROR] > 0
        unfinished = sum(1 for n in self.nodes.values() if n.status == NodeStatus.NOT_READY
                         and not n.spec.is_final)
        if failed:
            self.dag_status = DagStatusCode.NODE_FAILED
        elif unfinished:
            cycle = find_cycle(self.spec)
            self.dag_status = DagStatusCode.CYCLE if cycle else DagStatusCode.ERROR
            if cycle:
                self.out.log("ERROR: a cycle in the DAG keeps these nodes from running: " + ", ".join(cycle[:20]))
        if self.dag_status != DagStatusCode.OK:
            self.reports.write_rescue()
        self._start_final_or_finish()

    def _start_final_or_finish(self) -> None:
        final = self.nodes.get(self.spec.final) if self.spec.final else None
        if final is not None and final.status == NodeStatus.NOT_READY:
            self.phase = "final"
            self.out.log(f"Starting final node {final.name}...")
            self._make_ready(final)
            return
        self._finish(self._exit_code_for_status())

    def _exit_code_for_status(self) -> int:
        if self.stopping == "remove":
            return int(ExitCode.ABORT)
        if self.dag_status == DagStatusCode.OK:
            return int(ExitCode.OK)
        if self.dag_status == DagStatusCode.ABORT and self.exit_code is not None:
            return self.exit_code
        return int(ExitCode.ERROR)

    def _finish_after_final(self, final: NodeRun) -> None:
        if self.stopping == "remove":
            self._finish(int(ExitCode.ABORT))
        elif final.status == NodeStatus.DONE:
            self._finish(int(ExitCode.OK))
        else:
            if self.dag_status == DagStatusCode.OK:
                self.dag_status = DagStatusCode.NODE_FAILED
            code = self._exit_code_for_status()
            self._finish(code if code != 0 else int(ExitCode.ERROR))

    # -- end -------------------------------------------------------------------------------------
    def _write_final_reports(self, exit_code: int) -> None:
        self.write_dot()
        self.reports.finish()
        failed = [(n.name, n.details) for n in self.nodes.values() if n.status == NodeStatus.ERROR]
        if failed:
            self.out.failed_report(failed[:MAX_REPORTED_FAILURES])
        if self.jobstate:
            self.jobstate.internal(f"DAGMAN_FINISHED {exit_code}")
            self.jobstate.close()
        self.out.exiting(exit_code)

    def _finish(self, exit_code: int) -> None:
        if self.phase == "done":
            return
        self.phase = "done"
        self.exit_code = exit_code
        self.end_time = time.time()
        if self.dag_status == DagStatusCode.OK and exit_code != 0 and self.stopping != "abort":
            self.dag_status = DagStatusCode.ERROR
        if not self.end_reason:
            self.end_reason = {0: "DAG completed successfully", 2: "DAG removed"}.get(
                exit_code, f"DAG failed (DAG_Status {int(self.dag_status)})")
        self.stop_services()
        try:
            self._write_final_reports(exit_code)
        except OSError as exc:  # a full disk: the files are incomplete, but the DAG job must still end
            log.error("DAG %s: cannot write its final reports: %s", self.spec.path, exc)
            self.out.log(f"ERROR: failed to write the DAG's final reports: {exc}")
        self.out.close()
        with contextlib.suppress(OSError):  # its unflushed tail is lost on a full disk, nothing more
            self.log.close()
        self.lock_path.unlink(missing_ok=True)
        for callback in self.on_finished:
            callback(self)
        self.host.run_finished(self)
