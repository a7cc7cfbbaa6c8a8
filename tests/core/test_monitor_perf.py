"""The DAG Monitor's fast paths: the single-regex status-file reader and the unchanged-file cache.

The fast reader must agree with the general ClassAd parse on DAGMan's own files (the fixtures) and on
ours, and fall back to it on any other layout; the cache must re-read a file as soon as it changed and
give the same poll as a monitor that never caches.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wms2.core.monitor import CACHED_DAGS, DagMonitor, DagPoll
from wms2.dagman.model import NodeStatus
from wms2.dagman.status_file import (
    DagStatusFile,
    NodeState,
    NodeStatusEntry,
    _fast_nodes,
    _strict_scan,
    parse_status_text,
    parse_status_text_general,
    read_node_states,
    read_status_file,
    render,
    write_status_file,
)
from wms2.engines.base import DagExitInfo, DagJobInfo, DagJobState, Engine, SubmitOptions, SubmitResult

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
STATUS_FIXTURES = sorted((FIXTURES / "dagman-runs").rglob("*.node_status"))


class RunningEngine(Engine):
    """Every DAGMan job is running (the monitor only queries)."""

    name = "running"

    def submit_dag(self, dag_file: Path, options: SubmitOptions) -> SubmitResult:
        raise NotImplementedError

    def query(self, cluster_id: int, schedd: str) -> DagJobInfo:
        return DagJobInfo(cluster_id=cluster_id, schedd=schedd, state=DagJobState.running, counters={})

    def remove(self, cluster_id: int, schedd: str, reason: str) -> None:
        raise NotImplementedError

    def hold(self, cluster_id: int, schedd: str, reason: str) -> None:
        raise NotImplementedError

    def release(self, cluster_id: int, schedd: str) -> None:
        raise NotImplementedError

    def ping(self, schedd: str) -> bool:
        return True

    def exit_info(self, cluster_id: int, schedd: str) -> DagExitInfo:
        raise NotImplementedError


class CountingMonitor(DagMonitor):
    """Counts the status files actually parsed (cache misses)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.parsed: list[str] = []

    def _read_nodes(self, dag_file: Path) -> list[NodeState] | None:  # type: ignore[override]
        self.parsed.append(dag_file.name if dag_file.name == "workflow.dag" else dag_file.parent.name)
        return DagMonitor._read_nodes(dag_file)


# -- the fast reader ---------------------------------------------------------------------------
def test_there_are_fixtures() -> None:
    assert len(STATUS_FIXTURES) >= 3


@pytest.mark.parametrize("path", STATUS_FIXTURES, ids=lambda p: p.name)
def test_fast_path_agrees_with_the_general_parser_on_dagman_files(path: Path) -> None:
    text = path.read_text()
    assert _fast_nodes(text) is not None, "DAGMan's own layout must take the fast path"
    general = parse_status_text_general(text)
    assert general.nodes, "the general parser found no nodes"
    assert parse_status_text(text) == general
    assert read_status_file(path) == general
    assert read_node_states(path) == [(n.node, n.status, n.procs_held) for n in general.nodes]


def _status(names: list[str], states: list[int], details: list[str] | None = None) -> DagStatusFile:
    details = details or [""] * len(names)
    nodes = [NodeStatusEntry(node=n, status=s, details=d, retry_count=i % 3, procs_queued=int(s == 3),
                             procs_held=int(i % 7 == 0 and s == 3))
             for i, (n, s, d) in enumerate(zip(names, states, details, strict=True))]
    return DagStatusFile(dag_files=["workflow.dag"], timestamp=1_700_000_000, dag_status=3, nodes=nodes,
                         nodes_total=len(nodes), nodes_done=states.count(5), end_time=1_700_000_000,
                         next_update=1_700_000_060)


def test_fast_path_agrees_on_our_files_with_escapes() -> None:
    status = _status(["mg_000001", 'odd"name', "back\\slash", "merge"], [5, 6, 3, 0],
                     ["", 'Job proc (9.0.0) failed with status "1"', "not_idle", "Had an ancestor node fail"])
    text = render(status)
    assert _fast_nodes(text) is not None
    assert parse_status_text(text) == parse_status_text_general(text) == status


def test_other_layouts_fall_back_to_the_general_parser() -> None:
    text = render(_status(["a", "b"], [5, 3]))
    swapped = text.replace("  RetryCount = 0;\n  JobProcsQueued = 0;", "  JobProcsQueued = 0;\n  RetryCount = 0;")
    assert swapped != text
    assert _fast_nodes(swapped) is None
    assert parse_status_text(swapped) == parse_status_text_general(swapped)
    assert [n.node for n in parse_status_text(swapped).nodes] == ["a", "b"]
    named = render(_status(["NodeStatus", "b"], [5, 3]))  # a node literally named like the ad type
    assert _fast_nodes(named) is None
    assert [n.node for n in parse_status_text(named).nodes] == ["NodeStatus", "b"]


def test_strict_layout_and_lenient_layout_agree() -> None:
    """DAGMan's exact layout takes the strict pattern; re-indented ads or an extra line between two ads
    make it decline, and the lenient pattern or the general parser still give the same nodes."""
    status = _status(["mg_000001", 'odd"name', "merge"], [5, 6, 3], ["", 'failed "1"', ""])
    text = render(status)
    assert _strict_scan(text) is not None
    reindented = text.replace("\n  ", "\n    ")
    assert _strict_scan(reindented) is None
    assert _fast_nodes(reindented) is not None
    assert parse_status_text(reindented) == status
    extra = text.replace('  JobProcsHeld = 0;\n]\n[\n  Type = "NodeStatus";\n  Node = "odd',
                         '  JobProcsHeld = 0;\n]\n\n[\n  Type = "NodeStatus";\n  Node = "odd', 1)
    assert extra != text
    assert _strict_scan(extra) is None
    assert parse_status_text(extra) == status
    inside = text.replace('  RetryCount = 0;\n', '  RetryCount = 0;\n  Extra = 1;\n', 1)
    assert _strict_scan(inside) is None
    assert [n.node for n in parse_status_text(inside).nodes] == [n.node for n in status.nodes]


def test_read_node_states_on_our_files(tmp_path: Path) -> None:
    status = _status(["landing", 'pro"c_000001', "merge"], [3, 5, 0])
    states = [(n.node, n.status, n.procs_held) for n in status.nodes]
    assert states[0][2] == 1, "the first node is held in this sample"
    write_status_file(tmp_path / "group.dag.status", status)
    assert read_node_states(tmp_path / "group.dag.status") == states
    (tmp_path / "odd.status").write_text(render(status).replace("\n  ", "\n\t"))
    assert read_node_states(tmp_path / "odd.status") == states
    (tmp_path / "general.status").write_text(render(status).replace("\n  RetryCount", "\n  Extra = 2;\n  RetryCount"))
    assert read_node_states(tmp_path / "general.status") == states


def test_an_unknown_node_status_code_makes_the_file_unreadable(tmp_path: Path) -> None:
    write_status_file(tmp_path / "workflow.dag.status", _status(["mg_000000"], [5]))
    path = tmp_path / "workflow.dag.status"
    path.write_text(path.read_text().replace("NodeStatus = 5;", "NodeStatus = 9;"))
    assert DagMonitor._read_nodes(tmp_path / "workflow.dag") is None


# -- the unchanged-file cache --------------------------------------------------------------------
def _write_dag(root: Path, states: dict[str, int], inner_running: dict[str, int] | None = None) -> None:
    root.mkdir(parents=True, exist_ok=True)
    write_status_file(root / "workflow.dag.status", _status(list(states), list(states.values())))
    for wu, state in states.items():
        (root / wu).mkdir(exist_ok=True)
        if state == NodeStatus.DONE:
            (root / wu / "merge_output.json").write_text(f'{{"work_unit": "{wu}", "files": []}}')
        if state == NodeStatus.SUBMITTED:
            procs_done = (inner_running or {}).get(wu, 1)
            inner = ["landing", "proc_000001", "proc_000002", "proc_000003", "merge", "cleanup"]
            codes = [5] + [5 if k < procs_done else 3 for k in range(3)] + [0, 0]
            write_status_file(root / wu / "group.dag.status", _status(inner, codes))


def _same(a: DagPoll, b: DagPoll) -> None:
    assert a.wu_counts == b.wu_counts
    assert a.node_counts == b.node_counts
    assert a.by_role == b.by_role
    assert [w.name for w in a.newly_completed] == [w.name for w in b.newly_completed]


def _poll(monitor: DagMonitor, root: Path, known: set[str]) -> DagPoll:
    return monitor.poll(root, 1, "local", 4, known)


def test_unchanged_files_are_not_parsed_again(tmp_path: Path) -> None:
    root = tmp_path / "round"
    _write_dag(root, {"mg_000000": 5, "mg_000001": 3, "mg_000002": 3, "mg_000003": 0})
    monitor = CountingMonitor(RunningEngine())
    first = _poll(monitor, root, set())
    assert sorted(monitor.parsed) == ["mg_000001", "mg_000002", "workflow.dag"]
    monitor.parsed.clear()
    second = _poll(monitor, root, {"mg_000000"})
    assert monitor.parsed == []
    assert first.wu_counts == second.wu_counts == {"total": 4, "done": 1, "running": 2, "idle": 1, "failed": 0,
                                                    "held": 0}
    assert first.by_role == second.by_role
    zero = dict.fromkeys(("done", "running", "idle", "failed", "held"), 0)
    assert first.by_role == {"Landing": {**zero, "done": 2}, "Processing": {**zero, "done": 2, "running": 4},
                             "Merge": {**zero, "idle": 2}, "Cleanup": {**zero, "idle": 2}}
    assert first.node_counts == {**zero, "done": 4, "running": 4, "idle": 4}
    assert [w.name for w in first.newly_completed] == ["mg_000000"] and second.newly_completed == []


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    root = tmp_path / "round"
    _write_dag(root, {"mg_000000": 5, "mg_000001": 3, "mg_000002": 3, "mg_000003": 0})
    monitor = CountingMonitor(RunningEngine())
    _poll(monitor, root, set())
    monitor.parsed.clear()
    # DAGMan rewrites the outer file (mg_000001 done, mg_000003 started) and one inner file.
    _write_dag(root, {"mg_000000": 5, "mg_000001": 5, "mg_000002": 3, "mg_000003": 3}, {"mg_000002": 3})
    after = _poll(monitor, root, {"mg_000000"})
    assert sorted(monitor.parsed) == ["mg_000002", "mg_000003", "workflow.dag"]
    assert after.wu_counts["done"] == 2 and after.wu_counts["running"] == 2
    assert [w.name for w in after.newly_completed] == ["mg_000001"]
    _same(after, _poll(DagMonitor(RunningEngine()), root, {"mg_000000"}))


def test_an_in_place_rewrite_with_the_same_inode_is_read_again(tmp_path: Path) -> None:
    root = tmp_path / "round"
    _write_dag(root, {"mg_000000": 3, "mg_000001": 3, "mg_000002": 0, "mg_000003": 0})
    monitor = CountingMonitor(RunningEngine())
    before = _poll(monitor, root, set())
    path = root / "workflow.dag.status"
    inode = path.stat().st_ino
    stamp = path.stat().st_mtime_ns
    path.write_text(render(_status(["mg_000000", "mg_000001", "mg_000002", "mg_000003"], [5, 3, 0, 0])))
    os.utime(path, ns=(stamp, stamp))  # even with the old mtime: the size changed
    assert path.stat().st_ino == inode
    monitor.parsed.clear()
    after = _poll(monitor, root, set())
    assert "workflow.dag" in monitor.parsed
    assert before.wu_counts["done"] == 0 and after.wu_counts["done"] == 1


def test_a_deleted_status_file_means_no_status(tmp_path: Path) -> None:
    root = tmp_path / "round"
    _write_dag(root, {"mg_000000": 5, "mg_000001": 3, "mg_000002": 0, "mg_000003": 0})
    monitor = CountingMonitor(RunningEngine())
    _poll(monitor, root, set())
    (root / "workflow.dag.status").unlink()
    gone = _poll(monitor, root, set())
    assert gone.wu_counts == {"total": 4, "done": 0, "running": 0, "idle": 4, "failed": 0, "held": 0}
    assert gone.newly_completed == [] and gone.by_role == {}


def test_finished_wus_are_forgotten_and_the_cache_is_bounded(tmp_path: Path) -> None:
    root = tmp_path / "round"
    _write_dag(root, {"mg_000000": 3, "mg_000001": 3, "mg_000002": 0, "mg_000003": 0})
    monitor = CountingMonitor(RunningEngine())
    _poll(monitor, root, set())
    assert set(monitor._cache[str(root)].inner) == {"mg_000000", "mg_000001"}
    _write_dag(root, {"mg_000000": 5, "mg_000001": 3, "mg_000002": 0, "mg_000003": 0})
    _poll(monitor, root, set())
    assert set(monitor._cache[str(root)].inner) == {"mg_000001"}
    for i in range(CACHED_DAGS + 5):
        monitor._dag_cache(f"/nowhere/{i}")
    assert len(monitor._cache) == CACHED_DAGS
    assert str(root) not in monitor._cache  # least recently polled first out


class ExitedEngine(RunningEngine):
    """The DAGMan job has left the queue with the given exit code."""

    def __init__(self, exit_code: int) -> None:
        self.exit_code = exit_code

    def query(self, cluster_id: int, schedd: str) -> DagJobInfo:
        return DagJobInfo(cluster_id=cluster_id, schedd=schedd, state=DagJobState.completed, counters={})

    def exit_info(self, cluster_id: int, schedd: str) -> DagExitInfo:
        return DagExitInfo(cluster_id, schedd, self.exit_code, False, "")


def _write_outer_dag(root: Path, names: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "workflow.dag").write_text("".join(f"SUBDAG EXTERNAL {n} group.dag DIR {n}\n" for n in names))
    for n in names:
        (root / n).mkdir(parents=True, exist_ok=True)
        (root / n / "group.dag").write_text("JOB landing landing.sub\n")
        (root / n / "merge_output.json").write_text(f'{{"work_unit": "{n}", "files": []}}')


def test_exit_zero_with_a_stale_status_file_completes_every_work_unit(tmp_path: Path) -> None:
    """DAGMan may skip its last status rewrite: a successful exit means every node is done, so the WU the
    stale file still shows running is reported completed (and its outputs are collected)."""
    root = tmp_path / "round"
    _write_dag(root, {"mg_000000": 5, "mg_000001": 3})
    _write_outer_dag(root, ["mg_000000", "mg_000001"])
    running = _poll(DagMonitor(RunningEngine()), root, set())
    assert [w.name for w in running.newly_completed] == ["mg_000000"]
    done = DagMonitor(ExitedEngine(0)).poll(root, 1, "local", 2, {"mg_000000"})
    assert done.finished and done.succeeded and done.exit_code == 0
    assert [w.name for w in done.newly_completed] == ["mg_000001"]
    assert done.wu_counts["done"] == 2 and done.wu_counts["running"] == 0
    failed = DagMonitor(ExitedEngine(1)).poll(root, 1, "local", 2, {"mg_000000"})
    assert not failed.succeeded and failed.newly_completed == []


def test_exit_zero_without_any_status_file_reads_the_nodes_from_the_dag(tmp_path: Path) -> None:
    root = tmp_path / "round"
    _write_outer_dag(root, ["mg_000000", "mg_000001"])
    done = DagMonitor(ExitedEngine(0)).poll(root, 1, "local", 2, set())
    assert done.succeeded and [w.name for w in done.newly_completed] == ["mg_000000", "mg_000001"]


def test_a_dag_seen_finished_is_read_again_not_from_the_cache(tmp_path: Path) -> None:
    root = tmp_path / "round"
    _write_dag(root, {"mg_000000": 3, "mg_000001": 3})
    _write_outer_dag(root, ["mg_000000", "mg_000001"])
    monitor = CountingMonitor(RunningEngine())
    _poll(monitor, root, set())
    monitor.engine = ExitedEngine(1)  # the final file has the same stat key as the cached one
    monitor.parsed.clear()
    _poll(monitor, root, set())
    assert "workflow.dag" in monitor.parsed


def test_exit_zero_with_a_torn_status_file_completes_every_work_unit(tmp_path: Path) -> None:
    """Found by the fault harness: the status file torn as DAGMan exited (it is never rewritten after the
    exit).  Cut inside a node ad it is refused as incomplete, and at a successful exit every node of the DAG
    file is done, so no WU is lost to the round."""
    root = tmp_path / "round"
    _write_dag(root, {"mg_000000": 5, "mg_000001": 5})
    _write_outer_dag(root, ["mg_000000", "mg_000001"])
    status = root / "workflow.dag.status"
    text = status.read_text()
    status.write_text(text[: text.index('Node = "mg_000001"')])  # first node whole, second cut, no StatusEnd
    done = DagMonitor(ExitedEngine(0)).poll(root, 1, "local", 2, set())
    assert done.succeeded and [w.name for w in done.newly_completed] == ["mg_000000", "mg_000001"]
    status.write_text(text[: text.index("NodeStatus", text.index('Node = "mg_000000"'))])  # cut in the first
    done = DagMonitor(ExitedEngine(0)).poll(root, 1, "local", 2, set())
    assert done.succeeded and [w.name for w in done.newly_completed] == ["mg_000000", "mg_000001"]
