"""The status-reader process (``wms2.core.status_reader``): the same polls as the in-process read, whatever
happens to the reader, and no process left behind."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.core.test_cycle_batches import _active_requests, _files, _per_request
from tests.core.test_monitor_perf import RunningEngine
from wms2.config import Settings
from wms2.core.active import ActiveHandler
from wms2.core.dag_files import _STATE_BY_CODE, CompletedWorkUnit, _role, _role_counts, _state
from wms2.core.lifecycle import LifecycleManager
from wms2.core.monitor import DagMonitor, DagPoll, DagRef
from wms2.core.output_manager import OutputManager
from wms2.core.status_reader import ReaderSettings, StatusReader
from wms2.core.wiring import build_status_reader
from wms2.core.workers import Workers
from wms2.dagman.model import NodeStatus
from wms2.dagman.status_file import DagStatusFile, NodeStatusEntry, write_status_file
from wms2.db.session import Database
from wms2.db.tables import DagRow
from wms2.domain.enums import RequestStatus
from wms2.engines.base import (
    DagExitInfo,
    DagJobInfo,
    DagJobState,
    ScheddUnreachable,
)
from wms2.sandbox.results import (
    MERGE_OUTPUT_FILE,
    WORK_UNIT_METRICS_FILE,
    MergedFile,
    MergeOutput,
    MetricStat,
    StepMetricsSummary,
    WorkUnitMetrics,
)

WUS = 30
SETTINGS = ReaderSettings(timeout_s=30.0, restart_s=0.0, min_dags=1)


class StatesEngine(RunningEngine):
    """Answers each cluster with the state (or exception) set for it; running otherwise."""

    name = "states"

    def __init__(self) -> None:
        self.states: dict[int, DagJobState | Exception] = {}
        self.queries = 0

    def query(self, cluster_id: int, schedd: str) -> DagJobInfo:
        self.queries += 1
        state = self.states.get(cluster_id, DagJobState.running)
        if isinstance(state, Exception):
            raise state
        return DagJobInfo(cluster_id=cluster_id, schedd=schedd, state=state, counters={})

    def exit_info(self, cluster_id: int, schedd: str) -> DagExitInfo:
        return DagExitInfo(cluster_id=cluster_id, schedd=schedd, exit_code=0, removed=False, reason="")


def _inner(root: Path, wu: str, rng: random.Random) -> None:
    names = ["landing", *(f"proc_{k:06d}" for k in range(8)), "merge", "cleanup"]
    codes = [int(NodeStatus.DONE)] + [rng.choice((5, 3, 1, 0, 6)) for _ in range(8)] + [0, 0]
    entries = [NodeStatusEntry(node=n, status=NodeStatus(c), procs_held=int(rng.random() < 0.1))
               for n, c in zip(names, codes, strict=True)]
    write_status_file(root / wu / "group.dag.status", DagStatusFile(
        dag_files=["group.dag"], timestamp=1, dag_status=int(NodeStatus.SUBMITTED), nodes=entries,
        nodes_total=len(entries), end_time=1, next_update=61))


def _results(root: Path, wu: str, rng: random.Random) -> None:
    if rng.random() < 0.1:
        return  # a DONE WU without its result file: unreadable
    f = MergedFile(dataset="/P/E-v1/GEN-SIM", tier="GEN-SIM", lfn=f"/store/mc/E/P/GEN-SIM/v1/{wu}.root", size=10,
                   adler32="0000abcd", events=5, lumis={"1": [1, 2]}, event_ranges=[(1, 5)], input_lfns=["/in"])
    (root / wu / MERGE_OUTPUT_FILE).write_text(MergeOutput(work_unit=wu, site="T2_X", files=[f]).model_dump_json())
    if rng.random() < 0.7:
        m = WorkUnitMetrics(work_unit=wu, jobs_sampled=2, steps=[StepMetricsSummary(
            step="s1", jobs_sampled=2, metrics={"wall_s": MetricStat(median=1.0, min=0.5, max=2.0)})])
        (root / wu / WORK_UNIT_METRICS_FILE).write_text(m.model_dump_json())


def _step(root: Path, states: dict[str, int], rng: random.Random) -> None:
    """DAGMan moves on: some idle WUs start, some running ones finish or fail, inner files are rewritten."""
    for wu, state in list(states.items()):
        (root / wu).mkdir(parents=True, exist_ok=True)
        r = rng.random()
        if state == NodeStatus.NOT_READY and r < 0.3:
            states[wu] = int(NodeStatus.SUBMITTED)
            _inner(root, wu, rng)
        elif state == NodeStatus.SUBMITTED and r < 0.25:
            states[wu] = int(NodeStatus.DONE)
            _results(root, wu, rng)
        elif state == NodeStatus.SUBMITTED and r < 0.3:
            states[wu] = int(NodeStatus.ERROR)
        elif state == NodeStatus.SUBMITTED and r < 0.6:
            _inner(root, wu, rng)
    write_status_file(root / "workflow.dag.status", DagStatusFile(
        dag_files=["workflow.dag"], timestamp=1, dag_status=int(NodeStatus.SUBMITTED),
        nodes=[NodeStatusEntry(node=n, status=NodeStatus(s)) for n, s in states.items()],
        nodes_total=len(states), end_time=1, next_update=61))


def _same(a: DagPoll, b: DagPoll) -> None:
    assert (a.wu_counts, a.node_counts, a.by_role, a.engine_state, a.finished, a.succeeded, a.unreadable) == (
        b.wu_counts, b.node_counts, b.by_role, b.engine_state, b.finished, b.succeeded, b.unreadable)
    assert [(w.name, w.site, w.as_record()) for w in a.newly_completed] == [
        (w.name, w.site, w.as_record()) for w in b.newly_completed]


def _dags(tmp_path: Path, n: int) -> tuple[list[Path], list[dict[str, int]]]:
    roots = [tmp_path / f"r{i}" for i in range(n)]
    return roots, [{f"mg_{w:06d}": int(NodeStatus.NOT_READY) for w in range(WUS)} for _ in roots]


def _poll_all(monitor: DagMonitor, roots: list[Path], known: list[set[str]], batch: bool) -> list[DagPoll]:
    refs = [DagRef(root, 100 + i, "local", WUS, known[i]) for i, root in enumerate(roots)]
    if batch:
        monitor.begin_batch(refs)
    return [monitor.poll(r.submit_dir, r.cluster_id, r.schedd, r.total_wus, set(r.already_completed)) for r in refs]


def _advance(known: list[set[str]], polls: list[DagPoll]) -> None:
    for done, poll in zip(known, polls, strict=True):
        done.update(w.name for w in poll.newly_completed)


@pytest.fixture
def reader() -> Any:
    made = StatusReader(SETTINGS)
    yield made
    made.close()


def _side_by_side(tmp_path: Path, n: int, reader: StatusReader) -> tuple[Any, ...]:
    """``n`` DAGs, an in-process monitor and one with the reader, and what each has seen completed."""
    roots, states = _dags(tmp_path, n)
    engine = StatesEngine()
    known_local: list[set[str]] = [set() for _ in roots]
    known_remote: list[set[str]] = [set() for _ in roots]
    return (roots, states, engine, DagMonitor(engine), DagMonitor(engine, reader=reader), known_local,
            known_remote)


def _read_once(tmp_path: Path, reader: StatusReader, seed: int) -> tuple[DagMonitor, list[Path], list[set[str]]]:
    """Two DAGs advanced one step and polled once through the reader: the monitor, the roots, what was seen."""
    roots, states = _dags(tmp_path, 2)
    for root, s in zip(roots, states, strict=True):
        _step(root, s, random.Random(seed))
    known: list[set[str]] = [set(), set()]
    monitor = DagMonitor(StatesEngine(), reader=reader)
    _poll_all(monitor, roots, known, batch=True)
    return monitor, roots, known


def test_the_reader_answers_as_the_in_process_read(tmp_path: Path, reader: StatusReader) -> None:
    rng = random.Random(7)
    roots, states, engine, local, remote, known_local, known_remote = _side_by_side(tmp_path, 4, reader)
    unreadable = finished = 0
    for step in range(12):
        for root, s in zip(roots, states, strict=True):
            _step(root, s, rng)
        if step == 8:  # a DAG ends: the in-process path (cross-checks), in both
            engine.states[101] = DagJobState.completed
        expected = _poll_all(local, roots, known_local, batch=False)
        got = _poll_all(remote, roots, known_remote, batch=True)
        for a, b in zip(expected, got, strict=True):
            _same(a, b)
        unreadable += sum(len(p.unreadable) for p in got)
        finished += sum(p.finished for p in got)
        _advance(known_local, expected)
        _advance(known_remote, got)
    assert all(known_local) and unreadable and finished == 4  # the cases seen: new WUs, unreadable, an end
    assert reader.starts == 1 and reader.failures == 0
    assert not remote._cache  # the reader's cache is the one used (an ended DAG is read afresh, not kept)


def test_a_killed_reader_is_replaced_and_nothing_is_lost(tmp_path: Path, reader: StatusReader) -> None:
    rng = random.Random(11)
    roots, states, _engine, local, remote, known_local, known_remote = _side_by_side(tmp_path, 3, reader)
    # A reader killed in a batch is seen dead in that batch, or at the next one's first send when it had
    # already answered every job before the signal landed; a new one starts at the batch after that.
    # Seven batches leave room for both, so the count of starts does not depend on that race.
    for step in range(7):
        for root, s in zip(roots, states, strict=True):
            _step(root, s, rng)
        expected = _poll_all(local, roots, known_local, batch=False)
        refs = [DagRef(root, 100 + i, "local", WUS, known_remote[i]) for i, root in enumerate(roots)]
        remote.begin_batch(refs)
        if step in (2, 4):
            pid = reader.pid
            assert pid is not None  # the reader killed at step 2 was replaced by step 4 at the latest
            os.kill(pid, signal.SIGKILL)  # dies with the batch's jobs in flight (or just after its answers)
        got = [remote.poll(r.submit_dir, r.cluster_id, r.schedd, r.total_wus, set(r.already_completed)) for r in refs]
        for a, b in zip(expected, got, strict=True):
            _same(a, b)
        _advance(known_local, expected)
        _advance(known_remote, got)
    assert known_local == known_remote
    assert reader.failures == 2 and reader.starts == 3  # each replaced (restart_s = 0)


def test_no_new_reader_before_the_restart_delay(tmp_path: Path) -> None:
    reader = StatusReader(ReaderSettings(timeout_s=30.0, restart_s=3600.0, min_dags=1))
    try:
        monitor, roots, known = _read_once(tmp_path, reader, 3)
        assert reader.pid is not None
        os.kill(reader.pid, signal.SIGKILL)
        expected = _poll_all(DagMonitor(StatesEngine()), roots, known, batch=False)
        for _ in range(2):
            for a, b in zip(expected, _poll_all(monitor, roots, known, batch=True), strict=True):
                _same(a, b)
        assert reader.failures == 1 and reader.starts == 1 and reader.pid is None
    finally:
        reader.close()


def test_engine_errors_are_raised_by_their_own_poll(tmp_path: Path, reader: StatusReader) -> None:
    roots, states = _dags(tmp_path, 3)
    for root, s in zip(roots, states, strict=True):
        _step(root, s, random.Random(5))
    engine = StatesEngine()
    engine.states[101] = ScheddUnreachable("schedd down")
    monitor = DagMonitor(engine, reader=reader)
    refs = [DagRef(root, 100 + i, "local", WUS, set()) for i, root in enumerate(roots)]
    monitor.begin_batch(refs)
    assert engine.queries == 3  # each DAG's engine query, once, before its files are read
    first = monitor.poll(roots[0], 100, "local", WUS, set())
    with pytest.raises(ScheddUnreachable):
        monitor.poll(roots[1], 101, "local", WUS, set())
    last = monitor.poll(roots[2], 102, "local", WUS, set())
    assert engine.queries == 3 and first.engine_state == last.engine_state == DagJobState.running
    _same(last, DagMonitor(StatesEngine()).poll(roots[2], 102, "local", WUS, set()))


def test_a_poll_with_other_arguments_reads_in_process(tmp_path: Path, reader: StatusReader) -> None:
    roots, states = _dags(tmp_path, 2)
    for _ in range(3):
        for root, s in zip(roots, states, strict=True):
            _step(root, s, random.Random(9))
    monitor = DagMonitor(StatesEngine(), reader=reader)
    monitor.begin_batch([DagRef(root, 100 + i, "local", WUS, set()) for i, root in enumerate(roots)])
    known = {"mg_000000", "mg_000001"}
    got = monitor.poll(roots[0], 100, "local", WUS, known)  # not the completed set sent to the reader
    _same(got, DagMonitor(StatesEngine()).poll(roots[0], 100, "local", WUS, known))


def test_as_record_is_the_json_dump_of_the_documents() -> None:
    f = MergedFile(dataset="/P/E-v1/GEN-SIM", tier="GEN-SIM", lfn="/store/x.root", size=1, adler32="0000abcd",
                   events=5, lumis={"1": [1, 2]}, event_ranges=[(1, 5)], input_lfns=["/in"])
    out = MergeOutput(work_unit="mg_000001", files=[f], processed_input_lfns=["/in"])
    m = WorkUnitMetrics(work_unit="mg_000001", jobs_sampled=1, steps=[StepMetricsSummary(
        step="s", jobs_sampled=1, metrics={"cpu_s": MetricStat(median=1.0, min=1.0, max=1.0)})])
    for metrics in (m, None):
        record = CompletedWorkUnit("mg_000001", "T2_X", out, metrics).as_record()
        assert record == {"site": "T2_X", "files": [x.model_dump(mode="json") for x in out.files],
                          "processed_input_lfns": ["/in"], "registered": False,
                          "metrics": metrics.model_dump(mode="json") if metrics else None}
        assert record["files"][0]["event_ranges"] == [[1, 5]]


def test_the_reader_imports_no_heavy_module(reader: StatusReader, tmp_path: Path) -> None:
    monitor = DagMonitor(StatesEngine(), reader=reader)
    monitor.begin_batch([DagRef(tmp_path, 1, "local", 1, set())])
    monitor.poll(tmp_path, 1, "local", 1, set())
    stats = reader.stats()
    assert stats is not None and stats["heavy_modules"] == [] and stats["pid"] == reader.pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_cycle_with_a_reader_registers_every_wu_once_and_stops_it(db: Database, settings: Settings,
                                                                       tmp_path: Path) -> None:
    settings.lifecycle.batch_size = 3
    settings.lifecycle.status_reader_min_dags = 2
    _active_requests(db, tmp_path, 5)  # batches of 3 (reader) and 2 (reader)
    reader = build_status_reader(settings)
    assert reader is not None
    active = ActiveHandler(DagMonitor(StatesEngine(), reader=reader),
                           OutputManager(settings, *_local_services()))
    manager = LifecycleManager(db, settings, Workers(extra_handlers={RequestStatus.active: active}))
    try:
        for _ in range(3):
            report = manager.run_cycle()
            assert report.errors == [] and report.evaluated == 5
        pid = reader.pid
        assert pid is not None and reader.failures == 0
    finally:
        manager.close()
    assert _per_request(db) == {f"r{i}": (2, 2, 1) for i in range(5)}
    assert _files(db) == 10
    with db.session() as s:
        assert s.scalar(select(func.count(DagRow.id))) == 5
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid) and reader.pid is None


def _local_services() -> tuple[Any, Any]:
    from wms2.services.outputs import LocalCatalogWriter, LocalRuleService

    return LocalCatalogWriter, LocalRuleService


def test_no_reader_when_the_setting_is_zero_or_with_one_cpu(settings: Settings,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    settings.lifecycle.status_reader_processes = 0
    assert build_status_reader(settings) is None
    settings.lifecycle.status_reader_processes = 1
    assert build_status_reader(settings) is not None
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0})
    assert build_status_reader(settings) is None


def test_a_small_batch_is_read_in_process(tmp_path: Path) -> None:
    reader = StatusReader(ReaderSettings(timeout_s=30.0, restart_s=0.0, min_dags=3))
    monitor = DagMonitor(StatesEngine(), reader=reader)
    monitor.begin_batch([DagRef(tmp_path, 1, "local", 1, set()), DagRef(tmp_path / "b", 2, "local", 1, set())])
    monitor.poll(tmp_path, 1, "local", 1, set())
    assert reader.starts == 0 and reader.pid is None


def _role_counts_by_loop(nodes: tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]) -> dict[Any, int]:
    """The per-node loop the C-level ``_role_counts`` replaced (the reference)."""
    counts: dict[Any, int] = {}
    for name, code, held in zip(*nodes, strict=True):
        role = _role(name)
        key = (role, _state(code))
        counts[key] = counts.get(key, 0) + 1
        if held:
            counts[role, "held"] = counts.get((role, "held"), 0) + held
    return counts


def test_role_counts_agree_with_the_per_node_loop() -> None:
    rng = random.Random(1)
    pool = ["landing", "proc_000001", "proc_000002", "merge", "cleanup", "other_x", "mergeA", "landing2"]
    for _ in range(500):
        n = rng.randint(0, 15)
        nodes = (tuple(rng.choice(pool) for _ in range(n)), tuple(rng.choice(list(_STATE_BY_CODE)) for _ in range(n)),
                 tuple(rng.choice((0, 0, 0, 1, 2)) for _ in range(n)))
        assert dict(_role_counts(nodes)) == _role_counts_by_loop(nodes)


def test_nothing_prepared_for_a_batch_outlives_it(tmp_path: Path, reader: StatusReader) -> None:
    roots, states = _dags(tmp_path, 2)
    for root, s in zip(roots, states, strict=True):
        _step(root, s, random.Random(4))
    engine = StatesEngine()
    monitor = DagMonitor(engine, reader=reader)
    monitor.begin_batch([DagRef(root, 100 + i, "local", WUS, set()) for i, root in enumerate(roots)])
    monitor.poll(roots[0], 100, "local", WUS, set())
    monitor.end_batch()  # the second DAG's request failed before its poll
    engine.states[101] = DagJobState.completed
    later = monitor.poll(roots[1], 101, "local", WUS, set())  # alone, in a later cycle: the engine asked again
    assert later.finished and engine.queries == 3
    _same(later, DagMonitor(engine).poll(roots[1], 101, "local", WUS, set()))


def test_ctrl_c_is_left_to_the_lifecycle_process(tmp_path: Path, reader: StatusReader) -> None:
    monitor, roots, known = _read_once(tmp_path, reader, 6)
    assert reader.pid is not None
    os.kill(reader.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole process group
    time.sleep(0.2)
    expected = _poll_all(DagMonitor(StatesEngine()), roots, known, batch=False)
    for a, b in zip(expected, _poll_all(monitor, roots, known, batch=True), strict=True):
        _same(a, b)
    assert reader.failures == 0 and reader.starts == 1
