"""Conformance: DAG semantics run on the local engine (reference §1.4)."""

from __future__ import annotations

import classad2
import htcondor2

from tests.engine_local.conftest import DagDir, run_dag
from wms2.dagman.rescue import newest_rescue
from wms2.dagman.status_file import read_status_file
from wms2.engines.local.client import LocalEngine


def test_diamond_order_status_file_and_nodes_log(engine: LocalEngine, dagdir: DagDir) -> None:
    dag = dagdir.dag(
        "JOB A job.sub\nJOB B job.sub\nJOB C job.sub\nJOB D job.sub\n"
        "VARS B sleep=\"0.2\"\nPARENT A CHILD B C\nPARENT B C CHILD D\nNODE_STATUS_FILE d.status 0\n"
        "JOBSTATE_LOG d.jobstate\n"
    )
    cluster, info = run_dag(engine, dag)
    assert info.exit_code == 0
    ev = {(k, n): t for k, n, t in dagdir.events()}
    assert ev[("end", "A")] <= ev[("start", "B")] and ev[("end", "A")] <= ev[("start", "C")]
    assert max(ev[("end", "B")], ev[("end", "C")]) <= ev[("start", "D")]
    ads = list(classad2.parseAds((dagdir.root / "d.status").read_text()))
    assert ads[0]["Type"] == "DagStatus" and ads[0]["DagStatus"] == 5 and ads[0]["NodesDone"] == 4
    assert [a["Node"] for a in ads[1:-1]] == ["A", "B", "C", "D"] and ads[-1]["Type"] == "StatusEnd"
    events = list(htcondor2.JobEventLog(str(dag) + ".nodes.log").events(0))
    submits = [e for e in events if e.type == htcondor2.JobEventType.SUBMIT]
    assert sorted(e["LogNotes"] for e in submits) == [f"DAG Node: {n}" for n in "ABCD"]
    assert sum(1 for e in events if e.type == htcondor2.JobEventType.JOB_TERMINATED) == 4
    assert (dagdir.root / "A.out").exists()
    assert newest_rescue(dag) is None
    metrics = (dagdir.root / "test.dag.metrics").read_text()
    assert f'"dagman_id":"{cluster}"' in metrics and '"DagStatus":0' in metrics
    jobstate = (dagdir.root / "d.jobstate").read_text().splitlines()
    assert jobstate[0].endswith(f"INTERNAL *** DAGMAN_STARTED {cluster}.0 ***")
    assert jobstate[-1].endswith("INTERNAL *** DAGMAN_FINISHED 0 ***")
    assert sum(" JOB_SUCCESS " in line for line in jobstate) == 4
    out = (dagdir.root / "test.dag.dagman.out").read_text()
    assert "Dag contains 4 total nodes" in out and "EXITING WITH STATUS 0" in out


def test_multi_proc_job_list(engine: LocalEngine, dagdir: DagDir) -> None:
    (dagdir.root / "procs.sub").write_text(
        "executable = /bin/sh\narguments = \"-c 'exit $(Process)'\"\noutput = p.$(Process).out\nqueue 3\n")
    (dagdir.root / "ok.sub").write_text("executable = /bin/true\nqueue 3\n")
    log = dagdir.root / "p.log"
    dag = dagdir.dag(f"JOB P procs.sub\nSCRIPT POST P script.sh {log} 0 $RETURN $JOB_COUNT\n"
                     f"JOB OK ok.sub\nSCRIPT POST OK script.sh {log} 0 $EXIT_CODES $JOB_COUNT $SUCCESS\n")
    _, info = run_dag(engine, dag)
    assert info.exit_code == 0
    lines = sorted(log.read_text().splitlines())
    assert lines[0] == "0 3 True"
    ret, count = lines[1].split()
    assert ret in ("1", "2") and count == "3"  # the first failed proc's code
    assert (dagdir.root / "p.0.out").exists()


def test_pre_post_macros_and_post_rescues_a_failed_job(engine: LocalEngine, dagdir: DagDir) -> None:
    log = dagdir.root / "scripts.log"
    dag = dagdir.dag(
        "JOB A job.sub\nVARS A code=\"3\"\n"
        f"SCRIPT PRE A script.sh {log} 0 pre $JOB $RETRY $MAX_RETRIES $RETURN x=$JOB\n"
        f"SCRIPT POST A script.sh {log} 0 post $NODE $RETURN $PRE_SCRIPT_RETURN $JOBID $CLUSTERID "
        "$DAG_STATUS $FAILED_COUNT $EXIT_CODES $SUCCESS\n"
        "RETRY A 2\n"
    )
    _, info = run_dag(engine, dag)
    assert info.exit_code == 0
    pre, post = log.read_text().splitlines()
    assert pre == "pre A 0 2 $RETURN x=$JOB"  # POST-only macro left as is; partial tokens not replaced
    words = post.split()
    assert words[:4] == ["post", "A", "3", "0"]
    cluster = words[5]
    assert words[4] == f"{cluster}.0" and words[6:] == ["0", "0", "3", "False"]


def test_retry_and_unless_exit(engine: LocalEngine, dagdir: DagDir) -> None:
    counter = dagdir.root / "count"
    (dagdir.root / "flaky.sh").write_text(
        f'#!/bin/sh\necho x >> {counter}\n[ "$(wc -l < {counter})" -ge 3 ]\n')
    (dagdir.root / "flaky.sh").chmod(0o755)
    (dagdir.root / "flaky.sub").write_text("executable = flaky.sh\nqueue\n")
    dag = dagdir.dag(
        "JOB F flaky.sub\nRETRY F 5\n"
        "JOB U job.sub\nVARS U code=\"42\"\nRETRY U 3 UNLESS-EXIT 42\n"
        "JOB Z job.sub\nVARS Z code=\"7\"\nRETRY Z 1 UNLESS-EXIT 0\n"
        "NODE_STATUS_FILE r.status 0\n"
    )
    _, info = run_dag(engine, dag)
    assert info.exit_code == 1
    status = {n.node: n for n in read_status_file(dagdir.root / "r.status").nodes}
    assert status["F"].status == 5 and status["F"].retry_count == 2
    assert status["U"].status == 6 and status["U"].retry_count == 0
    assert "failed with status 42" in status["U"].details
    assert status["Z"].status == 6 and status["Z"].retry_count == 1  # UNLESS-EXIT 0 means none
    assert dagdir.starts().count("U") == 1 and dagdir.starts().count("Z") == 2


def test_abort_dag_on(engine: LocalEngine, dagdir: DagDir) -> None:
    dag = dagdir.dag(
        "JOB A job.sub\nVARS A code=\"5\" sleep=\"0.3\"\nABORT-DAG-ON A 5 RETURN 7\nRETRY A 3\n"
        "JOB S job.sub\nVARS S sleep=\"30\"\nJOB C job.sub\nPARENT A CHILD C\nNODE_STATUS_FILE a.status 0\n"
    )
    _, info = run_dag(engine, dag)
    assert info.exit_code == 7
    assert dagdir.starts().count("A") == 1 and "C" not in dagdir.starts()  # abort beats retry
    status = {n.node: n for n in read_status_file(dagdir.root / "a.status").nodes}
    assert status["S"].status == 6 and status["S"].details == "Was STATUS_SUBMITTED"
    rescue = newest_rescue(dag)
    assert rescue is not None and rescue[0] == 1


def test_abort_with_return_zero_succeeds_without_rescue(engine: LocalEngine, dagdir: DagDir) -> None:
    dag = dagdir.dag("JOB A job.sub\nVARS A code=\"5\"\nABORT-DAG-ON A 5 RETURN 0\nJOB B job.sub\nPARENT A CHILD B\n")
    _, info = run_dag(engine, dag)
    assert info.exit_code == 0 and newest_rescue(dag) is None and "B" not in dagdir.starts()


def test_pre_skip(engine: LocalEngine, dagdir: DagDir) -> None:
    log = dagdir.root / "s.log"
    dag = dagdir.dag(
        f"JOB A job.sub\nSCRIPT PRE A script.sh {log} 2 pre A\nSCRIPT POST A script.sh {log} 0 post A\n"
        "PRE_SKIP A 2\nJOB B job.sub\nPARENT A CHILD B\n"
        f"JOB C job.sub\nSCRIPT PRE C script.sh {log} 3 pre C\nPRE_SKIP C 2\n"
    )
    _, info = run_dag(engine, dag)
    assert info.exit_code == 1
    assert dagdir.starts() == ["B"]  # A skipped (and successful), C's PRE failed
    assert "post A" not in log.read_text()
    events = list(htcondor2.JobEventLog(str(dag) + ".nodes.log").events(0))
    assert any(int(e.type) == 34 and e["SkipEventLogNotes"] == "DAG Node: A" for e in events)


def test_final_node_decides_and_sees_dag_status(engine: LocalEngine, dagdir: DagDir) -> None:
    log = dagdir.root / "f.log"
    dag = dagdir.dag(
        "JOB A job.sub\nVARS A code=\"1\"\nJOB B job.sub\nPARENT A CHILD B\n"
        f"FINAL F job.sub\nVARS F logfile=\"{dagdir.logfile}\"\n"  # ALL_NODES skips FINAL
        f"SCRIPT POST F script.sh {log} 0 $DAG_STATUS $FAILED_COUNT $RETURN\n"
        "NODE_STATUS_FILE f.status 0\n"
    )
    _, info = run_dag(engine, dag)
    assert info.exit_code == 0  # FINAL succeeded
    assert log.read_text().split() == ["2", "1", "0"]
    assert dagdir.starts() == ["A", "F"]
    status = read_status_file(dagdir.root / "f.status")
    assert [n.status for n in status.nodes] == [6, 7, 5]
    rescue = newest_rescue(dag)
    assert rescue is not None and "DONE F" not in rescue[1].read_text()


def test_noop_done_and_defer(engine: LocalEngine, dagdir: DagDir) -> None:
    log = dagdir.root / "n.log"
    flag = dagdir.root / "deferred"
    (dagdir.root / "defer.sh").write_text(f"#!/bin/sh\nif [ -e {flag} ]; then exit 0; fi\ntouch {flag}\nexit 4\n")
    (dagdir.root / "defer.sh").chmod(0o755)
    dag = dagdir.dag(
        f"JOB N job.sub NOOP\nSCRIPT POST N script.sh {log} 0 post $RETURN\n"
        "JOB D job.sub DONE\nJOB E job.sub\nSCRIPT DEFER 4 1 PRE E defer.sh\nPARENT N D CHILD E\n"
    )
    _, info = run_dag(engine, dag)
    assert info.exit_code == 0
    assert dagdir.starts() == ["E"] and log.read_text().split() == ["post", "0"]
    ev = {(k, n): t for k, n, t in dagdir.events()}
    assert ev[("start", "E")] - flag.stat().st_mtime >= 0.9  # re-run after the DEFER time


def test_script_debug_file(engine: LocalEngine, dagdir: DagDir) -> None:
    (dagdir.root / "talk.sh").write_text("#!/bin/sh\necho to-out\necho to-err >&2\n")
    (dagdir.root / "talk.sh").chmod(0o755)
    dag = dagdir.dag("JOB A job.sub\nSCRIPT DEBUG dbg.txt ALL PRE A talk.sh\n"
                     "JOB B job.sub\nSCRIPT DEBUG err.txt STDERR POST B talk.sh\n")
    _, info = run_dag(engine, dag)
    assert info.exit_code == 0
    both = (dagdir.root / "dbg.txt").read_text()
    assert "PRE script of node A" in both and "to-out" in both and "to-err" in both
    err = (dagdir.root / "err.txt").read_text()
    assert "to-err" in err and "to-out" not in err
