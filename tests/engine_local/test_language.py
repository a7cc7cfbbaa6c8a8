"""The rest of the DAG language run on the local engine: splices, INCLUDE, inline submit descriptions,
SERVICE and PROVISIONER nodes, save points, DOT, WEAK edges, TOLERANCE, cycles with FINAL, and
$FAILED_COUNT after ABORT-DAG-ON (reference §1.2-§1.4)."""

from __future__ import annotations

import htcondor2
import pytest

from tests.engine_local.conftest import DagDir, run_dag
from wms2.dagman.rescue import newest_rescue, read_rescue
from wms2.dagman.status_file import read_status_file
from wms2.engines.base import BadDag, SubmitOptions
from wms2.engines.local.client import LocalEngine

INLINE = '{\n  executable = job.sh\n  arguments = "$(JOB) 0 0 $(logfile)"\n  queue\n}'


def test_splice_include_inline_and_dot(engine: LocalEngine, dagdir: DagDir) -> None:
    (dagdir.root / "sub").mkdir()
    (dagdir.root / "sub" / "job.sh").symlink_to(dagdir.root / "job.sh")
    (dagdir.root / "sub" / "job.sub").write_text((dagdir.root / "job.sub").read_text())
    (dagdir.root / "sub" / "splice.dag").write_text("JOB X job.sub\nJOB Y job.sub\nPARENT X CHILD Y\n")
    (dagdir.root / "inc.dag").write_text("JOB I job.sub\n")
    dag = dagdir.dag(
        "JOB A job.sub\nSPLICE S splice.dag DIR sub\nINCLUDE inc.dag\n"
        f"SUBMIT-DESCRIPTION desc @=end\n  executable = job.sh\n  arguments = \"$(JOB) 0 0 $(logfile)\"\n"
        "  queue\n@end\nJOB D desc\n"
        f"JOB N {INLINE}\n"
        "PARENT A CHILD S\nPARENT S CHILD I\nPARENT I CHILD D N\nNODE_STATUS_FILE t.status 0\nDOT t.dot UPDATE\n"
    )
    _, info = run_dag(engine, dag)
    assert info.exit_code == 0, info.reason
    starts = dagdir.starts()
    assert starts[:4] == ["A", "S+X", "S+Y", "I"] and sorted(starts[4:]) == ["D", "N"]
    assert (dagdir.root / "sub" / "S+X.out").exists()  # the splice DIR is where its nodes run
    status = read_status_file(dagdir.root / "t.status")
    assert [n.node for n in status.nodes] == ["A", "S+X", "S+Y", "I", "D", "N"]
    assert status.dag_files == [str(dag)]  # absolute, as DAGMan writes the -Dag path
    dot = (dagdir.root / "t.dot").read_text()
    assert '"S+Y" -> "I";' in dot and "(Done)" in dot


def test_service_node_is_removed_at_the_end_and_not_counted(engine: LocalEngine, dagdir: DagDir) -> None:
    dag = dagdir.dag('SERVICE SV job.sub\nVARS SV sleep="60"\nJOB A job.sub\nVARS A sleep="0.5"\n'
                     "NODE_STATUS_FILE s.status 0\n")
    _, info = run_dag(engine, dag)
    assert info.exit_code == 0, info.reason
    assert [n.node for n in read_status_file(dagdir.root / "s.status").nodes] == ["A"]
    events = list(htcondor2.JobEventLog(str(dag) + ".nodes.log").events(0))
    sv_cluster = next(e.cluster for e in events if e.type == htcondor2.JobEventType.SUBMIT
                      and e["LogNotes"] == "DAG Node: SV")
    assert any(e.type == htcondor2.JobEventType.JOB_ABORTED and e.cluster == sv_cluster for e in events)
    out = (dagdir.root / "test.dag.dagman.out").read_text()
    assert "Starting service node SV..." in out and "Removing service node SV" in out


def test_failing_service_does_not_fail_the_dag(engine: LocalEngine, dagdir: DagDir) -> None:
    dag = dagdir.dag('SERVICE SV job.sub\nVARS SV code="3"\nJOB A job.sub\nVARS A sleep="0.5"\n')
    _, info = run_dag(engine, dag)
    assert info.exit_code == 0, info.reason


def test_provisioner_starts_first(engine: LocalEngine, dagdir: DagDir) -> None:
    dag = dagdir.dag('PROVISIONER P job.sub\nVARS P sleep="1"\nJOB A job.sub\n')
    _, info = run_dag(engine, dag)
    assert info.exit_code == 0, info.reason
    events = list(htcondor2.JobEventLog(str(dag) + ".nodes.log").events(0))
    p_cluster = next(e.cluster for e in events if e.get("LogNotes") == "DAG Node: P")
    order = [(int(e.type), e.get("LogNotes")) for e in events if e.cluster == p_cluster or e.get("LogNotes")]
    assert order.index((1, None)) < order.index((0, "DAG Node: A"))  # P executing before A is submitted


def test_save_point_written_and_loaded(engine: LocalEngine, dagdir: DagDir) -> None:
    dag = dagdir.dag("JOB A job.sub\nJOB B job.sub\nPARENT A CHILD B\nSAVE_POINT_FILE B\n")
    _, info = run_dag(engine, dag)
    assert info.exit_code == 0, info.reason
    save = dagdir.root / "save_files" / "B-test.dag.save"
    text = save.read_text()
    assert text.startswith("# Save file written at Start Node B\n") and read_rescue(save).done == ["A"]
    dagdir.logfile.unlink()
    _, again = run_dag(engine, dag, SubmitOptions(load_save="B-test.dag.save"))
    assert again.exit_code == 0, again.reason
    assert dagdir.starts() == ["B"]  # A was DONE in the save file
    assert (dagdir.root / "save_files" / "B-test.dag.save.old").exists()  # rotated when B started again


def test_cycle_runs_the_rest_then_final_with_cycle_status(engine: LocalEngine, dagdir: DagDir) -> None:
    log = dagdir.root / "final.log"
    dag = dagdir.dag(
        "JOB A job.sub\nJOB B job.sub\nJOB C job.sub\nJOB D job.sub\n"
        "PARENT A CHILD B\nPARENT B CHILD C\nPARENT C CHILD B\n"
        f"FINAL F job.sub\nSCRIPT POST F script.sh {log} 0 $DAG_STATUS $FAILED_COUNT $RETURN\n"
        "NODE_STATUS_FILE c.status 0\n"
    )
    _, info = run_dag(engine, dag)
    assert sorted(dagdir.starts()) == ["A", "D"]  # B and C wait on each other; F has no logfile VARS
    assert log.read_text().split() == ["5", "0", "0"]  # FINAL ran, with DAG_STATUS_CYCLE
    status = read_status_file(dagdir.root / "c.status")
    assert (status.dag_status, status.dag_status_note) == (6, "cycle")
    assert info.exit_code == 0  # the FINAL node succeeded, so the DAG did
    rescue = newest_rescue(dag)
    assert rescue is not None and read_rescue(rescue[1]).done == ["A", "D"]


def test_cycle_without_final_fails_with_cycle_status(engine: LocalEngine, dagdir: DagDir) -> None:
    dag = dagdir.dag("JOB A job.sub\nJOB B job.sub\nPARENT A CHILD B\nPARENT B CHILD A\n")
    _, info = run_dag(engine, dag)
    assert info.exit_code == 1 and dagdir.starts() == []
    assert '"DagStatus":5' in (dagdir.root / "test.dag.metrics").read_text()


def test_failed_count_after_abort_counts_failures_only(engine: LocalEngine, dagdir: DagDir) -> None:
    log = dagdir.root / "final.log"
    dag = dagdir.dag(
        'JOB A job.sub\nVARS A sleep="1" code="3"\nABORT-DAG-ON A 3 RETURN 4\n'
        'JOB B job.sub\nVARS B sleep="60"\n'
        f"FINAL F job.sub\nSCRIPT POST F script.sh {log} 1 $DAG_STATUS $FAILED_COUNT\n"
    )
    _, info = run_dag(engine, dag)
    assert log.read_text().split() == ["3", "1"]  # B was removed by DAGMan, it did not fail
    assert info.exit_code == 4


def test_weak_edge_and_tolerance(engine: LocalEngine, dagdir: DagDir) -> None:
    (dagdir.root / "procs.sub").write_text(
        "executable = /bin/sh\narguments = \"-c 'exit $(Process)'\"\nqueue 3\n")
    dag = dagdir.dag(
        'JOB A job.sub\nVARS A code="1"\nJOB B job.sub\nJOB C job.sub\n'
        "WEAK PARENT A CHILD B\nPARENT A CHILD C\n"
        "JOB P procs.sub\nTOLERANCE P 2 WAIT\nJOB Q procs.sub\nTOLERANCE Q 1\nNODE_STATUS_FILE w.status 0\n"
    )
    _, info = run_dag(engine, dag)
    assert info.exit_code == 1
    assert sorted(dagdir.starts()) == ["A", "B"]
    status = {n.node: n.status for n in read_status_file(dagdir.root / "w.status").nodes}
    assert status == {"A": 6, "B": 5, "C": 7, "P": 5, "Q": 6}


def test_reject_is_refused(engine: LocalEngine, dagdir: DagDir) -> None:
    dag = dagdir.dag("JOB A job.sub\nREJECT\n")
    with pytest.raises(BadDag, match=r"test\.dag:3: DAG file contains a REJECT command"):
        engine.submit_dag(dag, SubmitOptions())


def test_dot_dont_overwrite_with_header(engine: LocalEngine, dagdir: DagDir) -> None:
    (dagdir.root / "hdr.dot").write_text("    label=\"my header\";\n")
    dag = dagdir.dag("JOB A job.sub\nJOB B job.sub\nWEAK PARENT A CHILD B\nDOT d.dot DONT-OVERWRITE INCLUDE hdr.dot\n")
    _, info = run_dag(engine, dag)
    assert info.exit_code == 0, info.reason
    first, last = (dagdir.root / "d.dot.0").read_text(), (dagdir.root / "d.dot.1").read_text()
    assert first.startswith("digraph DAG {\n    label=\"my header\";") and '"A" -> "B" [style=dashed];' in last
    assert not (dagdir.root / "d.dot").exists()
