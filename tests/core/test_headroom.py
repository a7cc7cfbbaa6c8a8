"""Issue 15 (headroom): the cheaper per-DAG paths of a lifecycle cycle give the same answers.

- the column reader of status files agrees with the tuple reader on DAGMan's files and ours;
- the outer view built by C-level counting agrees with a plain per-node count;
- completed WUs are recorded once (``ON CONFLICT DO NOTHING`` instead of a look-up), on SQLite and
  PostgreSQL;
- the active handler's one-query workflow + DAG load, and the request's deferred document/spec.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.core.test_monitor_perf import RunningEngine
from wms2.core.active import workflow_and_dag
from wms2.core.foreground import ForegroundActivity
from wms2.core.lifecycle import _DEFERRED_REQUEST_COLUMNS
from wms2.core.monitor import COUNT_KEYS, CompletedWorkUnit, DagMonitor, OuterView
from wms2.core.wu_records import store_completed
from wms2.dagman.model import NodeStatus
from wms2.dagman.status_file import (
    DagStatusFile,
    NodeStatusEntry,
    parse_status_text_general,
    read_node_columns,
    read_node_states,
    write_status_file,
)
from wms2.db.session import Database
from wms2.db.tables import DagRow, RequestRow, WorkflowRow, WorkUnitRecordRow
from wms2.domain.enums import DAGStatus, RequestStatus, WorkflowStatus
from wms2.sandbox.results import MergedFile, MergeOutput

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
STATUS_FIXTURES = sorted((FIXTURES / "dagman-runs").rglob("*.node_status"))


def _columns_of(states: list[tuple[str, int, int]]) -> tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]:
    return tuple(s[0] for s in states), tuple(s[1] for s in states), tuple(s[2] for s in states)


@pytest.mark.parametrize("path", STATUS_FIXTURES, ids=lambda p: p.name)
def test_column_reader_agrees_on_dagman_files(path: Path) -> None:
    general = parse_status_text_general(path.read_text())
    expected = _columns_of([(n.node, n.status, n.procs_held) for n in general.nodes])
    assert read_node_columns(path) == expected == _columns_of(read_node_states(path))


def _write(path: Path, names: list[str], codes: list[int], held: list[int]) -> None:
    nodes = [NodeStatusEntry(node=n, status=c, details='Job failed "1"' if c == 6 else "", procs_held=h,
                             procs_queued=int(c == 3)) for n, c, h in zip(names, codes, held, strict=True)]
    write_status_file(path, DagStatusFile(dag_files=["workflow.dag"], timestamp=1, dag_status=3, nodes=nodes,
                                          nodes_total=len(nodes), end_time=1, next_update=61))


def test_column_reader_on_our_files_escapes_and_other_layouts(tmp_path: Path) -> None:
    names = ["mg_000000", 'odd"name', "back\\slash", "mg_000003", "merge"]
    codes = [5, 6, 3, 0, 1]
    held = [0, 0, 2, 0, 0]
    path = tmp_path / "workflow.dag.status"
    _write(path, names, codes, held)
    assert read_node_columns(path) == (tuple(names), tuple(codes), tuple(held))
    # re-indented (not DAGMan's exact layout): the lenient pattern, same values
    reindented = tmp_path / "re.status"
    reindented.write_text(path.read_text().replace("\n  ", "\n    "))
    assert read_node_columns(reindented) == (tuple(names), tuple(codes), tuple(held))
    # attributes in another order: the general parser, same values
    swapped = tmp_path / "swapped.status"
    swapped.write_text(path.read_text().replace("  RetryCount = 0;\n  JobProcsQueued = 0;",
                                                "  JobProcsQueued = 0;\n  RetryCount = 0;"))
    assert read_node_columns(swapped) == (tuple(names), tuple(codes), tuple(held))
    empty = tmp_path / "empty.status"
    _write(empty, [], [], [])
    assert read_node_columns(empty) == ((), (), ())


def test_outer_view_matches_a_plain_count() -> None:
    codes = [int(s) for s in NodeStatus] * 3
    names = [f"mg_{i:06d}" for i in range(len(codes))]
    held = [i % 2 for i in range(len(codes))]
    view = OuterView.of((tuple(names), tuple(codes), tuple(held)))
    running = {NodeStatus.SUBMITTED, NodeStatus.PRERUN, NodeStatus.POSTRUN}
    failed = {NodeStatus.ERROR, NodeStatus.FUTILE}
    assert view.done == frozenset(n for n, c in zip(names, codes, strict=True) if c == NodeStatus.DONE)
    assert view.running == tuple(n for n, c in zip(names, codes, strict=True) if c in running)
    assert view.failed == frozenset(n for n, c in zip(names, codes, strict=True) if c in failed)
    assert view.names == tuple(names)
    assert set(view.counts) == set(COUNT_KEYS)
    assert view.counts["held"] == sum(held)
    assert view.counts["done"] == 3 and view.counts["failed"] == 6 and view.counts["running"] == 9
    assert sum(view.counts[k] for k in ("done", "running", "idle", "failed")) == len(codes)


def _request(db: Database) -> tuple[int, int]:
    with db.session() as s:
        req = RequestRow(name="r", requestor="t", request_type="StepChain", document={"RequestName": "r"},
                         spec={"splitting": {"request_num_events": 10}}, priority=1, status=RequestStatus.active)
        s.add(req)
        s.flush()
        wf = WorkflowRow(request_id=req.id, request_name="r", status=WorkflowStatus.active)
        s.add(wf)
        s.flush()
        dag = DagRow(workflow_id=wf.id, round=0, dag_file="/x/workflow.dag", submit_dir="/x", total_work_units=3,
                     status=DAGStatus.running)
        s.add(dag)
        s.flush()
        wf.current_dag_id = dag.id
        return req.id, dag.id


def _completed(name: str) -> CompletedWorkUnit:
    f = MergedFile(dataset="/P/E-v1/GEN-SIM", tier="GEN-SIM", lfn=f"/store/mc/E/P/GEN-SIM/v1/{name}.root",
                   size=1, adler32="0000abcd", events=1, lumis={"1": [1]}, site="T2_CH_CERN")
    return CompletedWorkUnit(name, "T2_CH_CERN", MergeOutput(work_unit=name, site="T2_CH_CERN", files=[f]), None)


def test_completed_work_units_are_recorded_once(db: Database) -> None:
    _req, dag_id = _request(db)
    with db.session() as s:
        dag = s.get(DagRow, dag_id)
        assert dag is not None
        assert store_completed(s, dag, [_completed("mg_000000"), _completed("mg_000001")]) == 2
    with db.session() as s:  # a repeated poll and a new WU: the known one is not inserted twice
        dag = s.get(DagRow, dag_id)
        assert dag is not None
        store_completed(s, dag, [_completed("mg_000001"), _completed("mg_000002")])
    with db.session() as s:
        names = list(s.scalars(select(WorkUnitRecordRow.name).order_by(WorkUnitRecordRow.name)))
        assert names == ["mg_000000", "mg_000001", "mg_000002"]
        assert s.scalar(select(func.count()).select_from(WorkUnitRecordRow)
                        .where(WorkUnitRecordRow.registered.is_(True))) == 0
        dag = s.get(DagRow, dag_id)
        assert dag is not None and sorted(dag.completed_work_units) == names


def test_workflow_and_dag_and_deferred_request_columns(db: Database) -> None:
    req_id, dag_id = _request(db)
    with db.session() as s:
        request = s.get(RequestRow, req_id, options=_DEFERRED_REQUEST_COLUMNS)
        assert request is not None
        assert "spec" not in request.__dict__ and "document" not in request.__dict__
        workflow, dag = workflow_and_dag(s, request)
        assert dag is not None and dag.id == dag_id and workflow.current_dag_id == dag_id
        assert request.spec["splitting"]["request_num_events"] == 10  # loaded when a handler reads it
        assert request.document["RequestName"] == "r"
        workflow.current_dag_id = None
        s.flush()
        assert workflow_and_dag(s, request)[1] is None


# -- foreground first (wms2 serve: the API and the lifecycle in one process) -------------------------
def test_yield_returns_at_once_when_no_request_is_in_flight() -> None:
    fg = ForegroundActivity(max_wait_s=5.0)
    fg.start_cycle()
    started = time.monotonic()
    assert fg.yield_to_foreground() == 0.0
    assert time.monotonic() - started < 1.0


def test_yield_waits_for_the_request_in_flight_to_end() -> None:
    fg = ForegroundActivity(max_wait_s=5.0)
    fg.start_cycle()
    time.sleep(0.3)  # the cycle has worked 0.3 s: it may wait as long
    fg.begin()
    ender = threading.Timer(0.05, fg.end)
    ender.start()
    waited = fg.yield_to_foreground()
    ender.join()
    assert 0.0 < waited < 0.3
    assert fg.in_flight == 0


def test_waits_are_bounded_per_call_and_by_the_work_done() -> None:
    fg = ForegroundActivity(max_wait_s=0.02)
    fg.begin()  # a request that never ends
    fg.start_cycle()
    started = time.monotonic()
    first = fg.yield_to_foreground()  # no work done yet in this cycle: (almost) no waiting budget
    time.sleep(0.1)
    waits = [first, *(fg.yield_to_foreground() for _ in range(20))]
    elapsed = time.monotonic() - started
    slack = 0.25  # one wake-up late on a loaded machine
    assert all(w <= 0.02 + slack for w in waits)  # bounded per call
    assert sum(waits) <= (elapsed - sum(waits)) + slack  # never longer in total than the cycle worked
    assert sum(waits) > 0.02  # but it did wait: the request was in flight
    fg.end()
    assert fg.in_flight == 0


# -- the inner counts kept up to date incrementally ------------------------------------------------
INNER = ["landing", "proc_000001", "proc_000002", "proc_000003", "merge", "cleanup"]


def test_incremental_inner_counts_equal_a_fresh_read(tmp_path: Path) -> None:
    """WUs start, finish, fail, get their inner file rewritten (held jobs too) or deleted: after every
    step the long-lived monitor's counts equal those of a monitor reading every file afresh."""
    rng = random.Random(15)
    root = tmp_path / "round"
    root.mkdir()
    wus = [f"mg_{i:06d}" for i in range(12)]
    states = dict.fromkeys(wus, int(NodeStatus.NOT_READY))
    monitor = DagMonitor(RunningEngine())
    for _step in range(25):
        for wu in rng.sample(wus, 4):
            states[wu] = rng.choice([int(NodeStatus.SUBMITTED)] * 3 + [int(NodeStatus.DONE), int(NodeStatus.ERROR)])
        _write(root / "workflow.dag.status", wus, [states[w] for w in wus], [0] * len(wus))
        for wu in wus:
            inner = root / wu / "group.dag.status"
            if states[wu] != NodeStatus.SUBMITTED or rng.random() < 0.4:
                continue  # left as it was (or never written)
            if inner.exists() and rng.random() < 0.15:
                inner.unlink()
                continue
            inner.parent.mkdir(exist_ok=True)
            codes = [5] + [rng.choice([5, 3, 1]) for _ in range(3)] + [0, 0]
            _write(inner, INNER, codes, [rng.choice([0, 0, 1]) if c == 3 else 0 for c in codes])
        kept = monitor.poll(root, 1, "local", len(wus), set(wus))
        fresh = DagMonitor(RunningEngine()).poll(root, 1, "local", len(wus), set(wus))
        assert kept.by_role == fresh.by_role
        assert kept.node_counts == fresh.node_counts
        assert kept.wu_counts == fresh.wu_counts
