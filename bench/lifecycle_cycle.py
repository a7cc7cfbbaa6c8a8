"""One lifecycle cycle at CMS scale: N ``active`` requests whose outer DAGs each have W work units.

Usage: ``python bench/lifecycle_cycle.py [--points 100,300,1000 | --requests N] [--work-units 1250]
[--cycles 4] [--new-per-cycle 3] [--engine memory|local] [--batch-size N] [--dir DIR] [--keep]
[--profile FILE] [--status-reader-processes 0|1]``.  ``--batch-size`` overrides ``lifecycle.batch_size`` (1: a
transaction per request); ``--status-reader-processes`` overrides ``lifecycle.status_reader_processes`` (0:
DAGMan's files read in-process).

By default every point of ``--points`` (100, 300 and 1,000 DAGs: the cost must grow linearly) runs in its
own process; the last line then holds the 300-DAG point's figures (``cycle_seconds``,
``cycle_cpu_seconds``, ...), ``cycle_seconds_<N>``, ``cycle_cpu_seconds_<N>`` and ``peak_rss_mb_<N>`` for
every point (``peak_rss_mb_<N>``: the main process plus its status reader; ``main_peak_rss_mb_<N>``: the main
process alone), the CPU milliseconds per DAG of each point (main process and reader) and their max/min
ratio (``linear_cost_ratio``).
``--requests N`` runs one point in this process.  ``peak_rss_mb`` is the peak resident memory of the
cycles (the kernel's mark is reset after the set-up, ``/proc/self/clear_refs``).

Sets up a throw-away WMS2 home (SQLite) with N requests in ``active``, each with its workflow, a
``running`` DAG row and a round directory holding ``workflow.dag.status`` in DAGMan's layout (written
by ``wms2.dagman.status_file.write_status_file``) with W SUBDAG nodes in a realistic mix of states,
an inner ``group.dag.status`` for every running WU, and the DAG's stored completed set.  Before each
cycle (untimed) a few running WUs per DAG become DONE, with real ``merge_output.json`` and
``work_unit_metrics.json``, so the Output Manager really registers their files.  Each cycle runs the
real ``LifecycleManager`` with the real ``ActiveHandler``/``DagMonitor``/``OutputManager``.

The engine: ``memory`` (default) is ``BenchEngine`` below, answering ``query`` from memory (it lives
only here, never in ``src/``); ``local`` submits one tiny never-matching placeholder DAG per request
to a real local pool daemon and queries it with the real ``LocalEngine`` over HTTP.

Prints one JSON object on its last line: requests, work_units_per_dag, cycle_seconds (median wall time
of the steady cycles, i.e. all but the first, which parses every file once as after a restart),
cycle_cpu_seconds (the same in process CPU time: meaningful on a shared, loaded machine),
seconds_per_request, per-cycle times, and the shares spent reading status files, reading WU result
files, in SQL execution and in engine queries.  With ``wms2 serve``'s interpreter settings, a probe thread
wakes every 10 ms during the steady cycles, as an API endpoint thread would: ``probe_p99_late_ms`` and
``probe_max_late_ms`` tell how long it waited for the interpreter (the lifecycle must not block the API).
With a status reader (``wms2.core.status_reader``) the files are read in its process: the shares of status
files and WU result files are then 0, and the reader's own figures are ``cycle_reader_cpu_seconds`` (median
CPU seconds of the reader per steady cycle), ``reader_peak_rss_mb``, ``reader_modules``,
``total_peak_rss_mb`` (main + reader) and ``share_reader_wait`` (the main process waiting for answers).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, insert, select

from wms2.api.server import tune_runtime
from wms2.config import Settings, load_settings
from wms2.core.active import ActiveHandler
from wms2.core.dag_files import DagFiles
from wms2.core.lifecycle import LifecycleManager
from wms2.core.monitor import CompletedWorkUnit
from wms2.core.output_manager import OutputManager
from wms2.core.service import init_home
from wms2.core.status_reader import StatusReader
from wms2.core.wiring import build_workers
from wms2.dagman.model import NodeStatus
from wms2.dagman.status_file import DagStatusFile, NodeStatusEntry, write_status_file
from wms2.db import codec
from wms2.db.catalog_tables import CatalogFileRow
from wms2.db.session import Database
from wms2.db.tables import DagRow, ProcessingBlockRow, RequestRow, WorkflowRow, WorkUnitRecordRow
from wms2.domain.enums import BlockStatus, DAGStatus, RequestStatus, WorkflowStatus
from wms2.engines.base import DagExitInfo, DagJobInfo, DagJobState, Engine, SubmitOptions, SubmitResult
from wms2.sandbox.memory import peak_rss_mb
from wms2.sandbox.results import (
    MERGE_OUTPUT_FILE,
    WORK_UNIT_METRICS_FILE,
    MergedFile,
    MergeOutput,
    MetricStat,
    StepMetricsSummary,
    WorkUnitMetrics,
)
from wms2.services.outputs import block_name

# The state mix of a DAG in mid-flight (fractions of its WUs); the rest are idle (NOT_READY/READY).
DONE_FRACTION = 0.40
RUNNING_FRACTION = 0.10
FAILED_FRACTION = 0.004
PROC_NODES_PER_WU = 8  # processing nodes per merge group (inner group.dag: landing, procs, merge, cleanup)
INNER_CHANGED_PER_CYCLE = 10  # running WUs per DAG whose inner status file DAGMan rewrote since last poll
SCHEDD = "bench"
SEED = 2026
PROBE_PERIOD_S = 0.010  # the wake-up probe's period (an API thread wanting the interpreter)
DEFAULT_POINTS = "100,300,1000"  # issue 15: the cost must grow linearly with the active DAGs
CONTRACT_POINT = 300
TARGET_300_S = 2.5  # issue 15: 300 active DAGs x 1,250 WUs on this 2-core machine
TARGET_1000_S = 8.0  # issue 15: 1,000 active DAGs x 1,250 WUs
TARGET_RSS_MB_1000 = 2048.0  # issue 15: memory under 2 GB at 1,000 DAGs
POINT_KEYS = ("requests", "cycle_seconds", "cycle_cpu_seconds", "first_cycle_seconds", "first_cycle_cpu_seconds",
              "peak_rss_mb", "max_rss_mb_with_setup", "setup_seconds", "load_average_1m",
              "cycle_reader_cpu_seconds", "reader_peak_rss_mb", "total_peak_rss_mb")


class BenchEngine(Engine):
    """Answers ``query`` from memory: every DAGMan job is running (a benchmark stand-in, not a fake in src)."""

    name = "bench-memory"

    def __init__(self) -> None:
        self.jobs: dict[int, dict[str, int]] = {}

    def submit_dag(self, dag_file: Path, options: SubmitOptions) -> SubmitResult:
        cluster = 1000 + len(self.jobs)
        self.jobs[cluster] = {}
        return SubmitResult(cluster, SCHEDD)

    def query(self, cluster_id: int, schedd: str) -> DagJobInfo:
        return DagJobInfo(cluster_id=cluster_id, schedd=schedd, state=DagJobState.running,
                          counters=dict(self.jobs.get(cluster_id, {})), status=3)

    def remove(self, cluster_id: int, schedd: str, reason: str) -> None:
        self.jobs.pop(cluster_id, None)

    def hold(self, cluster_id: int, schedd: str, reason: str) -> None:
        return None

    def release(self, cluster_id: int, schedd: str) -> None:
        return None

    def ping(self, schedd: str) -> bool:
        return True

    def exit_info(self, cluster_id: int, schedd: str) -> DagExitInfo:
        return DagExitInfo(cluster_id, schedd, 0, False, "")


class TimedEngine(Engine):
    """Wraps an engine and sums the time spent in its calls."""

    def __init__(self, inner: Engine, clock: Timers) -> None:
        self.inner, self.clock, self.name = inner, clock, inner.name

    def submit_dag(self, dag_file: Path, options: SubmitOptions) -> SubmitResult:
        return self.inner.submit_dag(dag_file, options)

    def query(self, cluster_id: int, schedd: str) -> DagJobInfo:
        with self.clock.timed("engine_query"):
            return self.inner.query(cluster_id, schedd)

    def remove(self, cluster_id: int, schedd: str, reason: str) -> None:
        self.inner.remove(cluster_id, schedd, reason)

    def hold(self, cluster_id: int, schedd: str, reason: str) -> None:
        self.inner.hold(cluster_id, schedd, reason)

    def release(self, cluster_id: int, schedd: str) -> None:
        self.inner.release(cluster_id, schedd)

    def ping(self, schedd: str) -> bool:
        return self.inner.ping(schedd)

    def exit_info(self, cluster_id: int, schedd: str) -> DagExitInfo:
        return self.inner.exit_info(cluster_id, schedd)

    def close(self) -> None:
        self.inner.close()


@dataclass
class Timers:
    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def timed(self, key: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - start
            self.calls[key] = self.calls.get(key, 0) + 1

    def wrap(self, owner: Any, attr: str, key: str) -> None:
        """Time every call of ``owner.attr`` (a function or staticmethod) under ``key``."""
        raw = owner.__dict__[attr]
        is_static = isinstance(raw, staticmethod)
        fn: Callable[..., Any] = raw.__func__ if is_static else raw

        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.timed(key):
                return fn(*args, **kwargs)

        setattr(owner, attr, staticmethod(timed) if is_static else timed)

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


def timed_codec(fn: Callable[[Any], Any], clock: Timers, key: str) -> Callable[[Any], Any]:
    def timed(value: Any) -> Any:
        with clock.timed(key):
            return fn(value)

    return timed


def watch_sql(db: Database, clock: Timers) -> None:
    @event.listens_for(db.engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        conn.info.setdefault("bench_t0", []).append(time.perf_counter())

    @event.listens_for(db.engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        start = conn.info["bench_t0"].pop()
        clock.seconds["sql_execute"] = clock.seconds.get("sql_execute", 0.0) + time.perf_counter() - start
        clock.calls["sql_execute"] = clock.calls.get("sql_execute", 0) + 1


# -- the synthetic DAGs --------------------------------------------------------------------------
def wu_name(index: int) -> str:
    return f"mg_{index:06d}"


def dataset_of(request: int) -> str:
    return f"/BenchPrimary{request:03d}/BenchEra-Bench-v1/GEN-SIM"


def merge_output(request: int, wu: str) -> MergeOutput:
    index = int(wu[3:])
    first = index * 10_000 + 1
    f = MergedFile(dataset=dataset_of(request), tier="GEN-SIM",
                   lfn=f"/store/mc/BenchEra/BenchPrimary{request:03d}/GEN-SIM/Bench-v1/0/{wu}.root",
                   size=2_500_000_000, adler32=f"{index:08x}", events=10_000,
                   lumis={"1": list(range(index * 10 + 1, index * 10 + 11))},
                   event_ranges=[(first, first + 9_999)], site="T2_CH_CERN")
    return MergeOutput(work_unit=wu, site="T2_CH_CERN", files=[f])


def wu_metrics(wu: str) -> WorkUnitMetrics:
    stats = {k: MetricStat(median=v, min=v * 0.9, max=v * 1.1) for k, v in (
        ("wall_s", 28_000.0), ("cpu_s", 100_000.0), ("cpu_efficiency", 0.89), ("peak_rss_mb", 6_100.0),
        ("events_read", 0.0), ("events_written", 1_250.0), ("wall_per_event_s", 22.4),
        ("bytes_written_GEN-SIM", 3.1e8), ("bytes_per_event_GEN-SIM", 250_000.0))}
    return WorkUnitMetrics(work_unit=wu, jobs_sampled=PROC_NODES_PER_WU, site="T2_CH_CERN",
                           steps=[StepMetricsSummary(step="GEN-SIM", jobs_sampled=PROC_NODES_PER_WU, threads=4,
                                                     metrics=stats)])


_RECORD_TEMPLATE: dict[str, Any] = {}


def stored_record(request: int, wu: str) -> dict[str, Any]:
    """``CompletedWorkUnit(...).as_record()`` of an already registered WU, built from a template made once
    by pydantic (the set-up stores ~500 per DAG: 500,000 at 1,000 DAGs)."""
    if not _RECORD_TEMPLATE:
        _RECORD_TEMPLATE.update(CompletedWorkUnit("mg_000000", "T2_CH_CERN", merge_output(0, "mg_000000"),
                                                  wu_metrics("mg_000000")).as_record())
    index = int(wu[3:])
    first = index * 10_000 + 1
    f = {**_RECORD_TEMPLATE["files"][0], "dataset": dataset_of(request),
         "lfn": f"/store/mc/BenchEra/BenchPrimary{request:03d}/GEN-SIM/Bench-v1/0/{wu}.root",
         "adler32": f"{index:08x}", "lumis": {"1": list(range(index * 10 + 1, index * 10 + 11))},
         "event_ranges": [[first, first + 9_999]]}
    return {**_RECORD_TEMPLATE, "files": [f], "metrics": {**_RECORD_TEMPLATE["metrics"], "work_unit": wu}}


@dataclass
class SyntheticDag:
    request: int
    submit_dir: Path
    states: list[int]
    rng: random.Random

    @property
    def status_path(self) -> Path:
        return self.submit_dir / "workflow.dag.status"

    def write_outer(self, now: int) -> None:
        nodes = [NodeStatusEntry(node=wu_name(i), status=s,
                                 details="not_idle" if s == NodeStatus.SUBMITTED else
                                 ("Job proc (1.0.0) failed with status 1" if s == NodeStatus.ERROR else ""),
                                 procs_queued=1 if s == NodeStatus.SUBMITTED else 0)
                 for i, s in enumerate(self.states)]
        c = {s: self.states.count(s) for s in NodeStatus}
        write_status_file(self.status_path, DagStatusFile(
            dag_files=["workflow.dag"], timestamp=now, dag_status=int(NodeStatus.SUBMITTED),
            nodes=nodes, nodes_total=len(nodes), nodes_done=c[NodeStatus.DONE], nodes_pre=c[NodeStatus.PRERUN],
            nodes_queued=c[NodeStatus.SUBMITTED], nodes_post=c[NodeStatus.POSTRUN],
            nodes_ready=c[NodeStatus.READY], nodes_unready=c[NodeStatus.NOT_READY],
            nodes_futile=c[NodeStatus.FUTILE], nodes_failed=c[NodeStatus.ERROR], procs_held=0,
            procs_idle=0, end_time=now, next_update=now + 60))

    def write_inner(self, index: int, now: int) -> None:
        wu_dir = self.submit_dir / wu_name(index)
        wu_dir.mkdir(exist_ok=True)
        procs = [NodeStatusEntry(node=f"proc_{index * PROC_NODES_PER_WU + k:06d}",
                                 status=self.rng.choice((NodeStatus.DONE, NodeStatus.SUBMITTED, NodeStatus.READY)))
                 for k in range(PROC_NODES_PER_WU)]
        nodes = [NodeStatusEntry(node="landing", status=NodeStatus.DONE), *procs,
                 NodeStatusEntry(node="merge", status=NodeStatus.NOT_READY),
                 NodeStatusEntry(node="cleanup", status=NodeStatus.NOT_READY)]
        write_status_file(wu_dir / "group.dag.status", DagStatusFile(
            dag_files=["group.dag"], timestamp=now, dag_status=int(NodeStatus.SUBMITTED), nodes=nodes,
            nodes_total=len(nodes), end_time=now, next_update=now + 60))

    def advance(self, new_done: int, now: int) -> list[str]:
        """``new_done`` running WUs finish (with their result files); as many idle WUs start."""
        running = [i for i, s in enumerate(self.states) if s == NodeStatus.SUBMITTED]
        idle = [i for i, s in enumerate(self.states) if s in (NodeStatus.NOT_READY, NodeStatus.READY)]
        finished = running[:new_done]
        for i in finished:
            wu_dir = self.submit_dir / wu_name(i)
            (wu_dir / MERGE_OUTPUT_FILE).write_text(merge_output(self.request, wu_name(i)).model_dump_json())
            (wu_dir / WORK_UNIT_METRICS_FILE).write_text(wu_metrics(wu_name(i)).model_dump_json())
            self.states[i] = NodeStatus.DONE
        for i in idle[:len(finished)]:
            self.states[i] = NodeStatus.SUBMITTED
            self.write_inner(i, now)
        still = [i for i, s in enumerate(self.states) if s == NodeStatus.SUBMITTED]
        for i in self.rng.sample(still, min(INNER_CHANGED_PER_CYCLE, len(still))):
            self.write_inner(i, now)
        self.write_outer(now)
        return [wu_name(i) for i in finished]


def initial_states(work_units: int, rng: random.Random) -> list[int]:
    done, running = int(work_units * DONE_FRACTION), int(work_units * RUNNING_FRACTION)
    failed = max(1, int(work_units * FAILED_FRACTION))
    states = ([NodeStatus.DONE] * done + [NodeStatus.SUBMITTED] * running + [NodeStatus.ERROR] * failed)
    rest = work_units - len(states)
    states += [NodeStatus.READY] * (rest // 4) + [NodeStatus.NOT_READY] * (rest - rest // 4)
    return [int(s) for s in states]


SETUP_BATCH = 20  # requests per set-up transaction (bounded memory at 1,000 DAGs)


def setup(settings: Settings, db: Database, engine: Engine, n_requests: int, work_units: int,
          rng: random.Random) -> list[SyntheticDag]:
    dags: list[SyntheticDag] = []
    for start in range(0, n_requests, SETUP_BATCH):
        with db.session() as session:
            dags += _setup_batch(settings, session, engine, range(start, min(n_requests, start + SETUP_BATCH)),
                                 work_units, rng)
    return dags


def _setup_batch(settings: Settings, session: Any, engine: Engine, requests: range, work_units: int,
                 rng: random.Random) -> list[SyntheticDag]:
    now = datetime.now(UTC)
    ts = int(time.time())
    dags: list[SyntheticDag] = []
    submit_base = Path(settings.submit_base)
    for r in requests:
        name = f"bench_lifecycle_{r:03d}"
        round_dir = submit_base / name / "round_000"
        round_dir.mkdir(parents=True)
        synth = SyntheticDag(r, round_dir, initial_states(work_units, rng), random.Random(rng.random()))
        for i, s in enumerate(synth.states):
            if s == NodeStatus.SUBMITTED:
                synth.write_inner(i, ts)
        synth.write_outer(ts)
        dags.append(synth)
        req = RequestRow(name=name, requestor="bench", request_type="MonteCarlo", document={}, spec={},
                         priority=100000, adaptive=True, status=RequestStatus.active, status_since=now,
                         output_datasets=[dataset_of(r)])
        session.add(req)
        session.flush()
        wf = WorkflowRow(request_id=req.id, request_name=name, status=WorkflowStatus.active)
        session.add(wf)
        session.flush()
        submitted = engine.submit_dag(round_dir / "workflow.dag", SubmitOptions(batch_name=name))
        done = [wu_name(i) for i, s in enumerate(synth.states) if s == NodeStatus.DONE]
        completed = {wu: {"site": "T2_CH_CERN"} for wu in done}
        if done:
            session.execute(insert(WorkUnitRecordRow), [
                {"workflow_id": wf.id, "round": 0, "name": wu, "site": "T2_CH_CERN", "registered": True,
                 "record": stored_record(r, wu), "created_at": now} for wu in done])
        dag = DagRow(workflow_id=wf.id, round=0, dag_file=str(round_dir / "workflow.dag"),
                     submit_dir=str(round_dir), cluster_id=submitted.cluster_id, schedd_name=submitted.schedd,
                     total_work_units=work_units, total_nodes=work_units * (PROC_NODES_PER_WU + 3),
                     completed_work_units=completed, round_params={"work_remaining": True},
                     status=DAGStatus.running, submitted_at=now)
        session.add(dag)
        session.flush()
        wf.current_dag_id = dag.id
        session.add(ProcessingBlockRow(
            workflow_id=wf.id, dag_id=dag.id, round=0, block_index=0, dataset=dataset_of(r),
            total_work_units=work_units, completed_work_units=done,
            catalog_block_name=block_name(dataset_of(r), wf.id, 0, 0), is_open=True,
            source_rule_ids={wu: f"rule-{r}-{wu}" for wu in done}, status=BlockStatus.open))
    return dags


# -- the local-engine variant -------------------------------------------------------------------
def placeholder_engine(settings: Settings, home: Path) -> Engine:
    """A real pool daemon knowing one DAGMan job per request: each runs a tiny placeholder DAG whose
    only node asks for more CPUs than any slot has, so it stays idle (no process) and the DAG running."""
    from wms2.engines.local_engine import LocalEngine, ensure_pool_running

    ensure_pool_running(settings)
    engine = LocalEngine(settings)
    base = home / "placeholders"

    class Placeholder(Engine):
        name = engine.name

        def submit_dag(self, dag_file: Path, options: SubmitOptions) -> SubmitResult:
            d = base / (options.batch_name or dag_file.parent.name)
            d.mkdir(parents=True)
            (d / "never.sub").write_text("executable = /bin/true\nrequest_cpus = 100000\nqueue\n")
            (d / "placeholder.dag").write_text("JOB never never.sub\n")
            return engine.submit_dag(d / "placeholder.dag", options)

        def query(self, cluster_id: int, schedd: str) -> DagJobInfo:
            return engine.query(cluster_id, schedd)

        def remove(self, cluster_id: int, schedd: str, reason: str) -> None:
            engine.remove(cluster_id, schedd, reason)

        def hold(self, cluster_id: int, schedd: str, reason: str) -> None:
            engine.hold(cluster_id, schedd, reason)

        def release(self, cluster_id: int, schedd: str) -> None:
            engine.release(cluster_id, schedd)

        def ping(self, schedd: str) -> bool:
            return engine.ping(schedd)

        def exit_info(self, cluster_id: int, schedd: str) -> DagExitInfo:
            return engine.exit_info(cluster_id, schedd)

    return Placeholder()


# -- main ----------------------------------------------------------------------------------------
class WakeProbe:
    """A thread that asks for the interpreter every ``period_s`` (as an API endpoint thread would) and
    records how late it got it while a cycle runs: what "the lifecycle does not block the API" means in
    one process sharing the GIL (``wms2 serve``)."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self.active = False
        self.late_ms: list[float] = []
        self.gc_pause_ms: list[float] = []
        self._gc_started = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-wake-probe")

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            time.sleep(self.period_s)
            late = (time.perf_counter() - start - self.period_s) * 1000
            if self.active:
                self.late_ms.append(late)

    def _gc(self, phase: str, _info: dict[str, int]) -> None:
        """Garbage collections stop every thread: recorded so that a late wake-up can be explained."""
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self.active:
            self.gc_pause_ms.append((time.perf_counter() - self._gc_started) * 1000)

    def __enter__(self) -> WakeProbe:
        gc.callbacks.append(self._gc)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        gc.callbacks.remove(self._gc)


def run(args: argparse.Namespace, home: Path) -> dict[str, Any]:
    settings = load_settings(home)
    if args.batch_size is not None:
        settings.lifecycle.batch_size = args.batch_size
    if args.status_reader_processes is not None:
        settings.lifecycle.status_reader_processes = args.status_reader_processes
    init_home(settings).dispose()
    clock = Timers()
    # The production codec of the JSON columns (wms2.db.codec), timed: the JSON columns' share.
    db = Database(settings.db_url, json_serializer=timed_codec(codec.dumps, clock, "db_json_encode"),
                  json_deserializer=timed_codec(codec.loads, clock, "db_json_decode"))
    rng = random.Random(SEED)
    inner_engine: Engine = placeholder_engine(settings, home) if args.engine == "local" else BenchEngine()
    engine = TimedEngine(inner_engine, clock)
    t0 = time.perf_counter()
    dags = setup(settings, db, engine, args.requests, args.work_units, rng)
    setup_s = time.perf_counter() - t0
    watch_sql(db, clock)
    # in-process reads only: with a status reader they happen in its process (its CPU is reported apart)
    clock.wrap(DagFiles, "_read_nodes", "status_file_parses")
    clock.wrap(DagFiles, "_completed", "wu_result_files")
    clock.wrap(StatusReader, "take", "reader_wait")  # waiting for the reader's answers (wall)
    clock.wrap(OutputManager, "register", "output_register")
    manager = LifecycleManager(db, settings, build_workers(settings, db, engine=engine))
    tune_runtime()  # the interpreter settings of wms2 serve, where the API threads share this process
    probe = WakeProbe(PROBE_PERIOD_S)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU time: wall time is other sessions' load here
    rss_reset = reset_peak_rss()
    with probe:
        cycles = run_cycles(args, manager, dags, db, clock, probe, profiler)
    main_rss_mb = peak_rss_mb()  # VmHWM since the reset after the set-up
    reader = status_reader(manager)
    reader_stats = reader.stats() if reader else None
    manager.close()
    if profiler is not None:
        profiler.dump_stats(args.profile)
    engine.close()
    db.dispose()
    if args.engine == "local":
        from wms2.engines.local_engine import stop_pool

        stop_pool(settings)
    return {**summary(args, cycles, probe, setup_s), "batch_size": settings.lifecycle.batch_size,
            "peak_rss_mb": round(main_rss_mb, 1),
            "peak_rss_scope": "cycles (peak reset after set-up)" if rss_reset else "whole process, set-up included",
            "max_rss_mb_with_setup": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "status_reader_processes": settings.lifecycle.status_reader_processes,
            "reader_peak_rss_mb": round(reader_stats["peak_rss_mb"], 1) if reader_stats else 0.0,
            "reader_modules": reader_stats["modules"] if reader_stats else 0,
            "reader_heavy_modules": reader_stats["heavy_modules"] if reader_stats else [],
            "total_peak_rss_mb": round(main_rss_mb + (reader_stats["peak_rss_mb"] if reader_stats else 0.0), 1)}


def status_reader(manager: LifecycleManager) -> StatusReader | None:
    handler = manager.handlers.get(RequestStatus.active)
    return handler.monitor.reader if isinstance(handler, ActiveHandler) else None


def reader_cpu(manager: LifecycleManager) -> float:
    """CPU seconds the status reader process used so far (0 without one)."""
    reader = status_reader(manager)
    stats = reader.stats() if reader is not None else None
    return float(stats["cpu_seconds"]) if stats else 0.0


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (``/proc/self/clear_refs``, value 5), so that the
    peak measured is the cycles', not the set-up's.  False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def run_cycles(args: argparse.Namespace, manager: LifecycleManager, dags: list[Any], db: Database, clock: Timers,
               probe: WakeProbe, profiler: Any) -> list[dict[str, Any]]:
    cycles: list[dict[str, Any]] = []
    registered_total = 0
    for c in range(args.cycles):
        ts = int(time.time())
        finished = sum(len(d.advance(args.new_per_cycle, ts)) for d in dags)
        clock.reset()
        if profiler is not None and c == args.cycles - 1:
            profiler.enable()
        reader0 = reader_cpu(manager)
        cpu0 = time.process_time()
        probe.active = c > 0  # steady cycles only, like cycle_seconds
        report = manager.run_cycle()
        probe.active = False
        cpu = time.process_time() - cpu0
        reader_cpu_s = reader_cpu(manager) - reader0
        if profiler is not None and c == args.cycles - 1:
            profiler.disable()
        with db.session() as session:
            files = session.scalar(select(func.count(CatalogFileRow.id))) or 0
        registered_now, registered_total = files - registered_total, files
        if report.errors:
            raise SystemExit(f"cycle {c} had errors: {report.errors[:3]}")
        cycles.append({"cycle": c, "seconds": round(report.duration_s, 3), "cpu_seconds": round(cpu, 3),
                       "reader_cpu_seconds": round(reader_cpu_s, 3),
                       "evaluated": report.evaluated,
                       "work_units_finished": finished, "files_registered": registered_now,
                       **{f"{k}_s": round(v, 3) for k, v in clock.seconds.items()},
                       **{f"{k}_calls": v for k, v in clock.calls.items()}})
        print(json.dumps(cycles[-1]), file=sys.stderr)
    return cycles


def summary(args: argparse.Namespace, cycles: list[dict[str, Any]], probe: WakeProbe,
            setup_s: float) -> dict[str, Any]:
    warm = cycles[1:] or cycles  # cycle 0 parses every file once (a service restart); later cycles are steady
    times = [c["seconds"] for c in warm]
    median = statistics.median(times)
    cpu_median = statistics.median(c["cpu_seconds"] for c in warm)
    last = cycles[-1]

    def share(key: str) -> float:
        return round(float(last.get(f"{key}_s", 0.0)) / last["seconds"], 3) if last["seconds"] else 0.0

    return {
        "requests": args.requests, "work_units_per_dag": args.work_units, "cycle_seconds": round(median, 3),
        "seconds_per_request": round(median / args.requests, 5), "cycles": len(cycles),
        "cycle_cpu_seconds": round(cpu_median, 3), "first_cycle_seconds": cycles[0]["seconds"],
        "cycle_reader_cpu_seconds": round(statistics.median(c["reader_cpu_seconds"] for c in warm), 3),
        "cycle_times": [c["seconds"] for c in cycles], "load_average_1m": round(os.getloadavg()[0], 2),
        "engine": "LocalEngine+pool daemon" if args.engine == "local" else
        "BenchEngine (in-memory, bench/ only)",
        "new_work_units_per_dag_per_cycle": args.new_per_cycle,
        "files_registered_per_cycle": [c["files_registered"] for c in cycles],
        "running_work_units_per_dag": int(args.work_units * RUNNING_FRACTION),
        "share_status_file_parses": share("status_file_parses"), "share_wu_result_files": share("wu_result_files"),
        "share_sql_execute": share("sql_execute"), "share_engine_query": share("engine_query"),
        "share_output_register": share("output_register"), "share_reader_wait": share("reader_wait"),
        "share_db_json": round(share("db_json_encode") + share("db_json_decode"), 3),
        "sql_statements": last.get("sql_execute_calls", 0),
        "status_file_parses": last.get("status_file_parses_calls", 0), "setup_seconds": round(setup_s, 1),
        "probe_period_ms": PROBE_PERIOD_S * 1000,
        "probe_p99_late_ms": round(sorted(probe.late_ms)[int(0.99 * (len(probe.late_ms) - 1))], 2)
        if probe.late_ms else None,
        "probe_max_late_ms": round(max(probe.late_ms), 2) if probe.late_ms else None,
        "gc_max_pause_ms": round(max(probe.gc_pause_ms), 2) if probe.gc_pause_ms else 0.0,
        "first_cycle_cpu_seconds": cycles[0]["cpu_seconds"], "cycle_cpu_times": [c["cpu_seconds"] for c in cycles],
        "target_seconds": TARGET_300_S, "ok": median < TARGET_300_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=None, help="one point of N DAGs (default: --points)")
    parser.add_argument("--points", default=DEFAULT_POINTS,
                        help="comma-separated DAG counts, each run in its own process (linear cost check)")
    parser.add_argument("--work-units", type=int, default=1250)
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--new-per-cycle", type=int, default=3, help="WUs per DAG newly DONE before each cycle")
    parser.add_argument("--engine", choices=("memory", "local"), default="memory")
    parser.add_argument("--dir", type=Path, default=None, help="WMS2 home (default: a temp dir, removed)")
    parser.add_argument("--keep", action="store_true", help="keep the home")
    parser.add_argument("--profile", default=None, help="cProfile (CPU time) the last cycle into this file")
    parser.add_argument("--status-reader-processes", type=int, default=None, choices=(0, 1),
                        help="lifecycle.status_reader_processes (default: the setting's)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="lifecycle.batch_size: active requests per transaction (default: the setting's)")
    args = parser.parse_args()
    if args.requests is None:
        print(json.dumps(run_points(args, [int(p) for p in args.points.split(",")])))
        return
    home = args.dir or Path(tempfile.mkdtemp(prefix="wms2-bench-cycle-"))
    home.mkdir(parents=True, exist_ok=True)
    try:
        result = run(args, home)
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(result))


def run_points(args: argparse.Namespace, points: list[int]) -> dict[str, Any]:
    """Each point in a fresh process (its own peak RSS, no cache or heap carried over); the contract
    figures: ``cycle_seconds`` (300 DAGs) and ``cycle_seconds_1000`` / ``peak_rss_mb_1000``."""
    results: dict[int, dict[str, Any]] = {}
    for n in points:
        cmd = [sys.executable, __file__, "--requests", str(n), "--work-units", str(args.work_units),
               "--cycles", str(args.cycles), "--new-per-cycle", str(args.new_per_cycle), "--engine", args.engine]
        if args.batch_size is not None:
            cmd += ["--batch-size", str(args.batch_size)]
        if args.status_reader_processes is not None:
            cmd += ["--status-reader-processes", str(args.status_reader_processes)]
        if args.profile:
            cmd += ["--profile", f"{args.profile}.{n}"]
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
        results[n] = json.loads(out.strip().splitlines()[-1])
        print(json.dumps(results[n]), file=sys.stderr)
    main_point = results.get(CONTRACT_POINT) or results[points[0]]
    out: dict[str, Any] = {**main_point, "points": [
        {k: results[n][k] for k in POINT_KEYS} for n in points]}
    for n in points:
        out[f"cycle_seconds_{n}"] = results[n]["cycle_seconds"]
        out[f"cycle_cpu_seconds_{n}"] = results[n]["cycle_cpu_seconds"]
        # the lifecycle's memory: the main process plus its status reader (the 2 GB target is for both)
        out[f"peak_rss_mb_{n}"] = results[n].get("total_peak_rss_mb", results[n]["peak_rss_mb"])
        out[f"main_peak_rss_mb_{n}"] = results[n]["peak_rss_mb"]
        out[f"reader_peak_rss_mb_{n}"] = results[n].get("reader_peak_rss_mb", 0.0)
        out[f"cycle_reader_cpu_seconds_{n}"] = results[n].get("cycle_reader_cpu_seconds", 0.0)
    cpu_per_dag = [(results[n]["cycle_cpu_seconds"] + results[n].get("cycle_reader_cpu_seconds", 0.0)) / n
                   for n in points]  # main process and reader together
    out["cpu_ms_per_dag_by_point"] = [round(1000 * c, 2) for c in cpu_per_dag]
    out["linear_cost_ratio"] = round(max(cpu_per_dag) / min(cpu_per_dag), 2)  # 1.0 = perfectly linear
    out["targets"] = {"cycle_seconds": TARGET_300_S, "cycle_seconds_1000": TARGET_1000_S,
                      "peak_rss_mb_1000": TARGET_RSS_MB_1000}
    out["ok"] = (out.get("cycle_seconds", 0) < TARGET_300_S and out.get("cycle_seconds_1000", 0) < TARGET_1000_S
                 and out.get("peak_rss_mb_1000", 0) < TARGET_RSS_MB_1000)
    return out


if __name__ == "__main__":
    main()
