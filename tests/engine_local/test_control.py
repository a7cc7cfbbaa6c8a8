"""Conformance: removal, hold/release and SUBDAG EXTERNAL (reference §8.3, §8.4)."""

from __future__ import annotations

import time

import pytest

from tests.engine_local.conftest import WAIT_S, DagDir, run_dag
from wms2.dagman.metrics import read_metrics
from wms2.dagman.rescue import newest_rescue, read_rescue
from wms2.dagman.status_file import read_status_file
from wms2.engines.base import BadDag, DagJobState, SubmitOptions
from wms2.engines.local.client import LocalEngine


def _wait_for(predicate, timeout: float = WAIT_S) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_removal_writes_rescue_and_resubmission_runs_only_missing_nodes(
        engine: LocalEngine, dagdir: DagDir) -> None:
    dag = dagdir.dag("JOB A job.sub\nJOB B job.sub\nVARS B sleep=\"30\"\nJOB C job.sub\n"
                     "PARENT A CHILD B\nPARENT B CHILD C\nNODE_STATUS_FILE r.status 0\n")
    cluster = engine.submit_dag(dag, SubmitOptions()).cluster_id
    _wait_for(lambda: "B" in dagdir.starts())
    engine.remove(cluster, "local", "test removal")
    info = engine.wait(cluster, timeout=WAIT_S)
    assert info.exit_code == 2 and info.removed
    status = read_status_file(dagdir.root / "r.status")
    assert (status.dag_status, status.dag_status_note) == (6, "removed")
    assert {n.node: n.details for n in status.nodes}["B"] == "Was STATUS_SUBMITTED"
    rescue = newest_rescue(dag)
    assert rescue is not None and read_rescue(rescue[1]).done == ["A"]
    assert read_metrics(dag.with_name("test.dag.metrics"))["exitcode"] == 2
    assert engine.query(cluster, "local").state == DagJobState.gone
    (dagdir.root / "test.dag").write_text(dag.read_text().replace('sleep="30"', 'sleep="0"'))
    dagdir.logfile.unlink()
    cluster2, info2 = run_dag(engine, dag)
    assert info2.exit_code == 0 and cluster2 != cluster
    assert dagdir.starts() == ["B", "C"]
    assert read_metrics(dag.with_name("test.dag.metrics"))["rescue_dag_number"] == 1


def test_hold_and_release(engine: LocalEngine, dagdir: DagDir) -> None:
    dag = dagdir.dag("JOB A job.sub\nVARS A sleep=\"0.5\"\nJOB B job.sub\nPARENT A CHILD B\n"
                     "NODE_STATUS_FILE h.status 0\n")
    cluster = engine.submit_dag(dag, SubmitOptions()).cluster_id
    _wait_for(lambda: "A" in dagdir.starts())
    engine.hold(cluster, "local", "test hold")
    _wait_for(lambda: engine.query(cluster, "local").state == DagJobState.held)
    _wait_for(lambda: any(k == "end" and n == "A" for k, n, _ in dagdir.events()))  # jobs keep running
    time.sleep(0.7)
    assert "B" not in dagdir.starts()  # nothing new is submitted while held
    status = read_status_file(dagdir.root / "h.status")
    assert status.dag_status_note == "held"
    engine.release(cluster, "local")
    info = engine.wait(cluster, timeout=WAIT_S)
    assert info.exit_code == 0 and dagdir.starts() == ["A", "B"]


def test_subdag_with_failing_inner_node_and_inner_rescue(engine: LocalEngine, dagdir: DagDir) -> None:
    inner_dir = dagdir.root / "inner"
    inner = DagDir(inner_dir)
    inner.logfile = dagdir.logfile
    inner.dag("JOB X job.sub\nJOB Y job.sub\nVARS Y code=\"1\"\nJOB Z job.sub\nPARENT X Y CHILD Z\n"
              "NODE_STATUS_FILE inner.status 0\n", name="inner.dag")
    outer = dagdir.dag("JOB A job.sub\nSUBDAG EXTERNAL S inner.dag DIR inner\nJOB B job.sub\n"
                       "PARENT A CHILD S\nPARENT S CHILD B\n")
    cluster, info = run_dag(engine, outer)
    assert info.exit_code == 1
    assert sorted(dagdir.starts()) == ["A", "X", "Y"]
    inner_rescue = newest_rescue(inner_dir / "inner.dag")
    assert inner_rescue is not None and read_rescue(inner_rescue[1]).done == ["X"]
    outer_rescue = newest_rescue(outer)
    assert outer_rescue is not None and read_rescue(outer_rescue[1]).done == ["A"]
    inner_metrics = read_metrics(inner_dir / "inner.dag.metrics")
    assert inner_metrics["parent_dagman_id"] == str(cluster) and inner_metrics["exitcode"] == 1
    assert read_status_file(inner_dir / "inner.status").nodes[1].status == 6
    # fix the inner failure and resubmit the outer DAG: only the missing nodes run, at both levels
    (inner_dir / "inner.dag").write_text((inner_dir / "inner.dag").read_text().replace('code="1"', 'code="0"'))
    dagdir.logfile.unlink()
    _, info2 = run_dag(engine, outer)
    assert info2.exit_code == 0
    assert dagdir.starts() == ["Y", "Z", "B"]


def test_force_and_explicit_rescue_numbers(engine: LocalEngine, dagdir: DagDir) -> None:
    dag = dagdir.dag("JOB A job.sub\nJOB B job.sub\nVARS B code=\"1\"\nPARENT A CHILD B\n")
    assert run_dag(engine, dag)[1].exit_code == 1
    assert run_dag(engine, dag)[1].exit_code == 1  # auto-rescue from rescue001: only B runs
    assert dagdir.starts() == ["A", "B", "B"]
    assert newest_rescue(dag) is not None and newest_rescue(dag)[0] == 2  # type: ignore[index]
    assert run_dag(engine, dag, SubmitOptions(rescue=1))[1].exit_code == 1  # rescue002 -> .old
    assert (dagdir.root / "test.dag.rescue002.old").exists()
    dagdir.logfile.unlink()
    assert run_dag(engine, dag, SubmitOptions(force=True))[1].exit_code == 1
    assert dagdir.starts() == ["A", "B"]  # from scratch
    assert (dagdir.root / "test.dag.rescue001.old").exists()
    assert newest_rescue(dag) is not None and newest_rescue(dag)[0] == 1  # type: ignore[index]
    with pytest.raises(BadDag, match="rescue007"):
        engine.submit_dag(dag, SubmitOptions(rescue=7))


def test_removing_the_outer_dag_removes_the_running_subdag(engine: LocalEngine, dagdir: DagDir) -> None:
    inner = DagDir(dagdir.root / "inner")
    inner.logfile = dagdir.logfile
    inner.dag("JOB X job.sub\nJOB Y job.sub\nVARS Y sleep=\"30\"\nPARENT X CHILD Y\n", name="inner.dag")
    outer = dagdir.dag("SUBDAG EXTERNAL S inner.dag DIR inner\nJOB B job.sub\nPARENT S CHILD B\n")
    cluster = engine.submit_dag(outer, SubmitOptions()).cluster_id
    _wait_for(lambda: "Y" in dagdir.starts())
    engine.remove(cluster, "local", "test")
    assert engine.wait(cluster, timeout=WAIT_S).exit_code == 2
    inner_rescue = newest_rescue(dagdir.root / "inner" / "inner.dag")
    assert inner_rescue is not None and read_rescue(inner_rescue[1]).done == ["X"]
    assert read_metrics(dagdir.root / "inner" / "inner.dag.metrics")["exitcode"] == 2
    assert "B" not in dagdir.starts()
