"""Recovery after a daemon restart, like DAGMan's recovery mode (reference §2): the DAG file (plus the
rescue DAG the run started from) is parsed again and the run's part of ``<dag>.nodes.log`` replayed to
rebuild node states.  Jobs still running are adopted (their wrapper records the exit status), finished
ones are read from their exit files, lost ones are queued again; sub-DAG runs are recovered the same
way.  A DAG that cannot be recovered is marked finished with the reason."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wms2.dagman.config_file import ConfigError, read_config
from wms2.dagman.eventlog import NOOP_CLUSTER, Event, EventType, read_events
from wms2.dagman.model import NodeStatus
from wms2.dagman.parser import DagParseError, parse_dag
from wms2.dagman.submit import SubmitError
from wms2.engines.local.executor import DagRun
from wms2.engines.local.jobs import PoolJob
from wms2.engines.local.node import RETURN_REMOVED, DagConfig, NodeRun
from wms2.engines.local.records import DagRecord

if TYPE_CHECKING:
    from wms2.engines.local.scheduler import Scheduler

log = logging.getLogger(__name__)


@dataclass
class _History:
    clusters: list[int] = field(default_factory=list)
    procs: dict[int, dict[int, tuple[str, int | None]]] = field(default_factory=dict)
    post: int | None = None
    preskip: bool = False


def _histories(events: list[Event]) -> dict[str, _History]:
    hist: dict[str, _History] = {}
    owner: dict[int, str] = {}
    last_noop: str | None = None
    for ev in events:
        if ev.type == EventType.SUBMIT and ev.node:
            h = hist.setdefault(ev.node, _History())
            if not h.clusters or h.clusters[-1] != ev.cluster or ev.cluster == NOOP_CLUSTER:
                h.clusters.append(ev.cluster)
                h.procs[ev.cluster] = {}
                h.post = None
            h.procs[ev.cluster][ev.proc] = ("idle", None)
            owner[ev.cluster] = ev.node
            if ev.cluster == NOOP_CLUSTER:
                last_noop = ev.node
            continue
        name = last_noop if ev.cluster == NOOP_CLUSTER and ev.node is None else owner.get(ev.cluster, ev.node)
        if name is None or (name not in hist and ev.type not in (EventType.PRESKIP,)):
            continue
        h = hist.setdefault(name, _History())
        procs = h.procs.get(ev.cluster, {})
        if ev.type == EventType.EXECUTE:
            procs[ev.proc] = ("running", None)
        elif ev.type == EventType.JOB_TERMINATED:
            procs[ev.proc] = ("exit", -ev.signal if ev.signal else ev.return_value)
        elif ev.type == EventType.JOB_ABORTED:
            procs[ev.proc] = ("aborted", RETURN_REMOVED)
        elif ev.type == EventType.POST_SCRIPT_TERMINATED:
            h.post = -ev.signal if ev.signal else ev.return_value
        elif ev.type == EventType.PRESKIP:
            h.preskip = True
    return hist


def build_run(sched: Scheduler, record: DagRecord) -> DagRun:
    dag_file = Path(record.dag_file)
    rescue = Path(record.rescue_file) if record.rescue_file else None
    spec = parse_dag(dag_file, rescue, record.rescue_number)
    knobs = read_config(Path(spec.config_file)) if spec.config_file else {}
    config = DagConfig.from_knobs(knobs)
    config.priority += record.priority
    if record.max_idle is not None:
        config.max_idle = record.max_idle
    if record.max_jobs is not None:
        config.max_jobs = record.max_jobs
    run = DagRun(spec, record.cluster, sched, config, parent_cluster=record.parent, batch_name=record.batch_name)
    run.record_force = record.force
    run.log_offset = record.log_offset
    run.start_time = record.start_time
    return run


def recover_run(sched: Scheduler, record: DagRecord) -> DagRun:
    run = build_run(sched, record)
    sched.runs[run.cluster] = run
    run.start(recovering=True)
    run.out.log("Running in RECOVERY mode...")
    if run.jobstate:
        run.jobstate.internal("RECOVERY_STARTED")
    hist = _histories(read_events(run.nodes_log_path, run.log_offset))
    pending: list[tuple[NodeRun, int, _History]] = []
    for node in run.nodes.values():
        h = hist.get(node.name)
        if node.status == NodeStatus.DONE or h is None:
            continue
        if h.preskip:
            run._set(node, NodeStatus.DONE, "")
            continue
        if not h.clusters:
            continue
        node.retry = len(h.clusters) - 1
        node.ran = True
        cluster = h.clusters[-1]
        states = h.procs.get(cluster, {})
        if states and all(s[0] in ("exit", "aborted") for s in states.values()):
            _finished_attempt(run, node, cluster, states, h)
        else:
            pending.append((node, cluster, h))
    for node in run.nodes.values():
        if node.status == NodeStatus.ERROR:
            run._mark_futile(node)
    run.count_waiting()
    for node, cluster, h in pending:
        _reattach(sched, run, node, cluster, h.procs.get(cluster, {}))
    if run.jobstate:
        run.jobstate.internal("RECOVERY_FINISHED")
    run.begin()
    if record.state == "held":
        run.hold("held before the pool restarted")
    return run


def _finished_attempt(run: DagRun, node: NodeRun, cluster: int, states: dict[int, tuple[str, int | None]],
                      h: _History) -> None:
    node.cluster = cluster
    codes = [s[1] for s in states.values()]
    node.exit_codes = [c if s[0] == "exit" else None for s, c in zip(states.values(), codes, strict=True)]
    failed = [c for c in codes if c not in (0, None)]
    node.job_failed = bool(failed)
    node.job_return = failed[0] if failed and failed[0] is not None else 0
    if node.spec.post is not None:
        if h.post is None:
            run._set(node, NodeStatus.POSTRUN, "")
            run._queue_script(node, "POST")
            return
        result = h.post
    else:
        result = node.job_return
    _apply_result(run, node, result or 0)


def _apply_result(run: DagRun, node: NodeRun, result: int) -> None:
    if result == 0:
        run._set(node, NodeStatus.DONE, "")
        return
    unless = node.spec.unless_exit if node.spec.unless_exit not in (None, 0) else None
    if node.retry < node.spec.retries and result != unless:
        node.retry += 1
        node.reset_for_retry()
        return  # NOT_READY; begin() makes it ready again
    run._set(node, NodeStatus.ERROR, f"failed with status {result} (recovered)")


def _reattach(sched: Scheduler, run: DagRun, node: NodeRun, cluster: int,
              states: dict[int, tuple[str, int | None]]) -> None:
    category = node.spec.category
    if category is not None:
        run.category_running[category] = run.category_running.get(category, 0) + 1
    run.clusters_submitted += 1
    run._set(node, NodeStatus.SUBMITTED, "")
    node.cluster = cluster
    if node.spec.is_subdag:
        _reattach_subdag(sched, run, node, cluster)
        return
    try:
        jobs = run._build_jobs(node, cluster)
    except SubmitError as exc:
        jobs = []
        run.out.log(f"Recovery: cannot rebuild jobs of node {node.name}: {exc}")
    unfinished = [j for j in jobs if states.get(j.proc, ("idle", None))[0] in ("idle", "running")]
    node.exit_codes = [states[p][1] for p in sorted(states) if states[p][0] == "exit"]
    node.procs_left = len(unfinished)
    node.jobs = list(unfinished)
    if not unfinished:
        node.job_failed, node.job_details, node.job_return = True, "jobs lost during pool restart", 1
        sched.add_timer(0.0, lambda: run._job_list_done(node))
        return
    for job in unfinished:
        job.on_execute = lambda j, n=node: run._job_executing(n, j)
        job.on_exit = lambda j, r, n=node: run._job_exited(n, j, r)
        run.live_jobs += 1
        pid, site = _pid_file(sched, job)
        if pid is not None:
            sched.add_timer(0.0, lambda j=job, p=pid, s=site: sched.pool.adopt(j, s, p))
        else:
            node.procs_idle += 1
            run.idle_procs += 1
            sched.pool.submit(job, run.effective_priority(node))


def _pid_file(sched: Scheduler, job: PoolJob) -> tuple[int | None, str]:
    """The pid of a job that was running when the daemon stopped, if it still runs or left an exit
    file (then the adoption reads it at once).  The daemon records the pid just after starting the
    wrapper; killed in between, it left a job running with no record, which is found by its wrapper's
    unique exit-file argument, so the job is adopted, never started a second time."""
    exit_file = sched.pool.exit_dir / f"{job.job_id}.exit"
    try:
        pid_text, _, site = os.readlink(sched.pool.exit_dir / f"{job.job_id}.pid").partition(" ")
        pid: int | None = int(pid_text)
    except (OSError, ValueError):
        pid, site = None, _scratch_site(sched.pool.execute_dir / f"dir_{job.cluster}_{job.proc}")
    if exit_file.exists():
        return 0, site.strip()  # finished while the daemon was down: no process to watch
    found = _find_wrapper(exit_file) if pid is None else (pid if _is_wrapper(pid, exit_file) else None)
    return (found, site.strip()) if found is not None else (None, "")


_SITE = re.compile(r'^GLIDEIN_CMSSite = "([^"]*)"$', re.M)


def _scratch_site(scratch: Path) -> str:
    """The site a job was started at, from the job ad written into its scratch directory."""
    try:
        match = _SITE.search((scratch / ".job.ad").read_text())
    except OSError:
        return ""
    return match.group(1) if match else ""


def _find_wrapper(exit_file: Path) -> int | None:
    """The pid of the wrapper process whose arguments name ``exit_file``, if one runs."""
    pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return next((pid for pid in pids if _is_wrapper(pid, exit_file)), None)  # a process gone meanwhile: False


def _is_wrapper(pid: int, exit_file: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return os.fsencode(str(exit_file)) in cmdline


def _reattach_subdag(sched: Scheduler, run: DagRun, node: NodeRun, cluster: int) -> None:
    node.procs_left = 1
    run.live_jobs += 1
    record = sched.records.get(cluster)
    if record is not None and record.state in ("running", "held"):
        try:
            inner = recover_run(sched, record)
        except (DagParseError, ConfigError, OSError) as exc:
            sched.records.finish(cluster, 1, f"not recoverable after pool restart: {exc}", 1)
        else:
            node.jobs = [inner]
            inner.on_finished.append(lambda r, n=node: run._subdag_exited(n, r))
            return
        record = sched.records.get(cluster)
    code = record.exit_code if record is not None and record.exit_code is not None else 1
    sched.add_timer(0.0, lambda: run.subdag_finished(node, code, cluster))


def recover_all(sched: Scheduler) -> list[int]:
    """Recover every top-level DAG that was running or held; others found running are closed."""
    recovered: list[int] = []
    for record in sched.records.all():
        if record.state not in ("running", "held") or record.parent is not None:
            continue
        try:
            recover_run(sched, record)
            recovered.append(record.cluster)
        except (DagParseError, ConfigError, OSError) as exc:
            sched.records.finish(record.cluster, 1, f"not recoverable after pool restart: {exc}", 1)
            log.warning("DAG %s not recoverable: %s", record.cluster, exc)
    for record in sched.records.all():
        if record.state in ("running", "held") and record.cluster not in sched.runs:
            sched.records.finish(record.cluster, 1, "abandoned: its parent DAG was not running after the "
                                 "pool restart", 1)
    return recovered
