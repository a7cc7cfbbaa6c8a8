"""The local "schedd": one event loop that owns the pool, every DAG run, timers and the spool records.

Other threads (the HTTP handlers) call ``submit``/``remove``/``hold``/``release``; these parse and
validate in the caller's thread and hand the state change to the loop through a command queue, so a
big DAG being parsed never stalls the others.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from wms2.dagman.config_file import read_config
from wms2.dagman.model import NodeStatus
from wms2.dagman.parser import apply_rescue, parse_dag
from wms2.dagman.rescue import newest_rescue, rename_rescues_above, rescue_path, save_file_path
from wms2.engines.local.executor import DagRun
from wms2.engines.local.node import DagConfig, NodeRun
from wms2.engines.local.pool import Pool, Slot
from wms2.engines.local.reaper import Reaper
from wms2.engines.local.records import DagRecord, RecordStore
from wms2.engines.local.reports import STATUS_SCAN_S

log = logging.getLogger(__name__)
IDLE_WAIT_S = 0.25  # longest sleep of the loop when nothing happens (timers, status files)
PERIODIC_INTERVAL_S = 1.0  # how often periodic_remove is evaluated (HTCondor: PERIODIC_EXPR_INTERVAL=60)


class SubmitRefused(ValueError):
    """The DAG cannot be submitted (bad DAG, missing rescue file, already running)."""


class Scheduler:
    def __init__(self, spool: Path, slots: list[Slot], cycle_s: float = 0.0, idle_wait_s: float = IDLE_WAIT_S,
                 periodic_s: float = PERIODIC_INTERVAL_S, status_scan_s: float = STATUS_SCAN_S) -> None:
        self.spool = spool
        self.reaper = Reaper()
        self.pool = Pool(slots, self.reaper, spool)
        self.records = RecordStore(spool)
        self.cycle_s = cycle_s
        self.idle_wait_s, self.periodic_s, self.status_scan_s = idle_wait_s, periodic_s, status_scan_s
        self.runs: dict[int, DagRun] = {}
        # DAG files submitted whose run the loop has not started yet (it adds them to ``runs``): a second
        # submission in that window is refused too.  Guarded by ``_submit_lock`` (HTTP threads).
        self._starting: dict[Path, int] = {}
        self._submit_lock = threading.Lock()
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._finished = threading.Condition()  # notified whenever a DAG job leaves the queue
        self._thread: threading.Thread | None = None
        self._last_periodic = 0.0
        self.peak_running = 0

    # -- host interface used by DagRun -----------------------------------------------------------
    def new_cluster(self) -> int:
        with self._lock:
            return self.records.next_cluster()

    def add_timer(self, when: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (when, next(self._timer_seq), callback))

    def start_subdag(self, parent: DagRun, node: NodeRun, dag_file: Path, priority: int) -> DagRun:
        force = parent.record_force and node.retry == 0
        run = self._create_run(dag_file, force=force, rescue=None, priority=parent.config.priority + priority,
                               batch_name=parent.batch_name, parent=parent.cluster, node=node.name)
        self._begin(run)
        return run

    def run_finished(self, run: DagRun) -> None:
        self.records.finish(run.cluster, run.exit_code, run.end_reason, int(run.dag_status),
                            run_info(run)["counters"])
        self.runs.pop(run.cluster, None)
        with self._finished:
            self._finished.notify_all()

    def wait_finished(self, cluster: int, timeout: float) -> None:
        """Block the calling (HTTP) thread until the DAG job left the queue, or at most ``timeout``."""
        def done() -> bool:
            record = self.records.get(cluster)
            return record is None or record.state == "done"

        with self._finished:
            self._finished.wait_for(done, timeout)

    # -- client API (any thread) -----------------------------------------------------------------
    def submit(self, dag_file: Path, force: bool = False, rescue: int | None = None, priority: int = 0,
               batch_name: str | None = None, max_idle: int | None = None,
               max_jobs: int | None = None, load_save: str | None = None) -> int:
        dag_file = dag_file.absolute()
        with self._submit_lock:
            for run in list(self.runs.values()):
                if run.spec.path == dag_file and run.phase != "done":
                    raise SubmitRefused(f"{dag_file} is already running as cluster {run.cluster}")
            if dag_file in self._starting:
                raise SubmitRefused(f"{dag_file} is already running as cluster {self._starting[dag_file]}")
            run = self._create_run(dag_file, force, rescue, priority, batch_name, None, None, max_idle,
                                   max_jobs, load_save)
            self._starting[dag_file] = run.cluster
            # The lock file exists before the submitter hears the cluster id (the loop's start of the
            # run writes it again): a client resubmitting at once finds the pool that runs the DAG.
            run.lock_path.write_text(f"{run.cluster}\n")
        self.call(lambda: self._begin(run, submitted=dag_file))
        return run.cluster

    def call(self, command: Callable[[], None]) -> None:
        self._commands.put(command)
        self.reaper.wake()

    def remove(self, cluster: int, reason: str) -> None:
        self.call(lambda: self.runs[cluster].remove(f"DAG removed: {reason}") if cluster in self.runs else None)

    def hold(self, cluster: int, reason: str) -> None:
        def do() -> None:
            if cluster in self.runs:
                self.runs[cluster].hold(reason)
                self.records.set_state(cluster, "held", reason)
        self.call(do)

    def release(self, cluster: int) -> None:
        def do() -> None:
            if cluster in self.runs:
                self.runs[cluster].release()
                self.records.set_state(cluster, "running", "")
        self.call(do)

    # -- creation --------------------------------------------------------------------------------
    def _create_run(self, dag_file: Path, force: bool, rescue: int | None, priority: int,
                    batch_name: str | None, parent: int | None, node: str | None,
                    max_idle: int | None = None, max_jobs: int | None = None,
                    load_save: str | None = None) -> DagRun:
        if not dag_file.is_file():
            raise SubmitRefused(f"DAG file {dag_file} does not exist")
        spec = parse_dag(dag_file)
        if spec.reject is not None:
            raise SubmitRefused(f"{spec.reject}: DAG file contains a REJECT command; DAGMan refuses to run it")
        knobs = read_config(Path(spec.config_file)) if spec.config_file else {}
        config = DagConfig.from_knobs(knobs)
        config.priority += priority
        if max_idle is not None:
            config.max_idle = max_idle
        if max_jobs is not None:
            config.max_jobs = max_jobs
        if load_save is not None:
            if rescue is not None:
                raise SubmitRefused("a save file (load_save) cannot be combined with a rescue number")
            rescue_file, number = save_file_path(spec, load_save), 0
            if not rescue_file.is_file():
                raise SubmitRefused(f"save file {rescue_file} does not exist")
        else:
            rescue_file, number = self._choose_rescue(dag_file, force, rescue, config)
        if rescue_file is not None:
            apply_rescue(spec, rescue_file, number)
        with self._lock:
            cluster = self.records.next_cluster()
        run = DagRun(spec, cluster, self, config, parent_cluster=parent, batch_name=batch_name)
        run.record_force = force
        self.records.create(DagRecord(
            cluster=cluster, dag_file=str(dag_file), state="running", parent=parent, node=node,
            priority=priority, batch_name=run.batch_name, force=force,
            rescue_file=str(rescue_file) if rescue_file else None, rescue_number=number,
            max_idle=max_idle, max_jobs=max_jobs, start_time=time.time(),
        ))
        return run

    @staticmethod
    def _choose_rescue(dag_file: Path, force: bool, rescue: int | None,
                       config: DagConfig) -> tuple[Path | None, int]:
        if force:
            rename_rescues_above(dag_file, 0)
            return None, 0
        if rescue is not None:
            path = rescue_path(dag_file, rescue)
            if not path.is_file():
                raise SubmitRefused(f"rescue DAG {path} does not exist")
            rename_rescues_above(dag_file, rescue)
            return path, rescue
        if config.auto_rescue:
            newest = newest_rescue(dag_file, config.max_rescue)
            if newest is not None:
                return newest[1], newest[0]
        return None, 0

    def _begin(self, run: DagRun, recovering: bool = False, submitted: Path | None = None) -> None:
        self.runs[run.cluster] = run
        if submitted is not None:
            with self._submit_lock:
                self._starting.pop(submitted, None)
        run.start(recovering=recovering)
        self.records.update(run.cluster, log_offset=run.log_offset)
        run.begin()

    # -- the loop --------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="wms2-local-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.reaper.wake()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.cycle()
            except Exception:  # keep the schedd alive; the failing DAG is logged with its traceback
                log.exception("local scheduler cycle failed")
                time.sleep(self.idle_wait_s)

    def cycle(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                break
            command()
        now = time.time()
        while self._timers and self._timers[0][0] <= now:
            _, _, callback = heapq.heappop(self._timers)
            callback()
        for run in list(self.runs.values()):
            run.step()
        started = self.pool.match()
        running = sum(s.running for s in self.pool.slots)
        self.peak_running = max(self.peak_running, running)
        if now - self._last_periodic >= self.periodic_s:
            self._last_periodic = now
            self.pool.check_periodic()
        wait = self.idle_wait_s if not started else self.cycle_s
        if self._timers:
            wait = min(wait, max(0.0, self._timers[0][0] - time.time()))
        if not self._commands.empty():
            wait = 0.0
        self.reaper.poll(wait)

    # -- queries ---------------------------------------------------------------------------------
    def snapshot(self, cluster: int) -> dict[str, Any] | None:
        """Node statuses of a running DAG, in the node status file's terms."""
        run = self.runs.get(cluster)
        if run is None:
            return None
        return asdict(run.reports.snapshot())

    def info(self, cluster: int) -> dict[str, Any] | None:
        run = self.runs.get(cluster)
        record = self.records.get(cluster)
        if record is None:
            return None
        data: dict[str, Any] = record.as_dict()
        if run is not None:
            data.update(run_info(run))
        return data


def run_info(run: DagRun) -> dict[str, Any]:
    """The DAGMan job ad's ``DAG_*`` counters of a run (reference §4.6)."""
    c = run.counts
    return {
        "state": "held" if run.held else "running",
        "DAG_Status": int(run.dag_status),
        "counters": {
            "DAG_NodesTotal": len(run.nodes), "DAG_NodesDone": c[NodeStatus.DONE],
            "DAG_NodesPrerun": c[NodeStatus.PRERUN], "DAG_NodesQueued": c[NodeStatus.SUBMITTED],
            "DAG_NodesPostrun": c[NodeStatus.POSTRUN], "DAG_NodesReady": c[NodeStatus.READY],
            "DAG_NodesUnready": c[NodeStatus.NOT_READY], "DAG_NodesFailed": c[NodeStatus.ERROR],
            "DAG_NodesFutile": c[NodeStatus.FUTILE], "DAG_JobsSubmitted": run.jobs_submitted,
            "DAG_JobsIdle": run.idle_procs, "DAG_JobsHeld": 0,
            "DAG_JobsRunning": run.live_jobs - run.idle_procs, "DAG_JobsCompleted": run.jobs_succeeded,
            "DAG_InRecovery": 0,
        },
        "unmatched": dict(run.unmatched),
    }
