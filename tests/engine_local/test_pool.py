"""Conformance: matchmaking by site and resources, idle reasons, job environment, periodic_remove,
file transfer."""

from __future__ import annotations

import time

from tests.engine_local.conftest import WAIT_S, DagDir, run_dag, write_exec
from wms2.dagman.status_file import read_status_file
from wms2.engines.base import DagJobState, SubmitOptions
from wms2.engines.local.client import LocalEngine

AD_JOB = """#!/bin/sh
grep -h -E '^(GLIDEIN_CMSSite|Cpus|Memory|Name|DAGNodeName|CMS_Role) ' "$_CONDOR_MACHINE_AD" "$_CONDOR_JOB_AD"
echo "scratch=$_CONDOR_SCRATCH_DIR"
echo "cwd=$(pwd)"
"""


def _ad_lines(path):  # type: ignore[no-untyped-def]
    return dict(line.split(" = ", 1) for line in path.read_text().splitlines() if " = " in line)


def test_matchmaking_by_site_and_resources(engine: LocalEngine, dagdir: DagDir) -> None:
    write_exec(dagdir.root / "ad.sh", AD_JOB)
    (dagdir.root / "site.sub").write_text(
        "executable = ad.sh\noutput = $(JOB).out\nrequest_cpus = $(cpus)\nrequest_memory = 500\n"
        "+CMS_Role = \"Processing\"\nrequirements = $(req)\nqueue\n")
    dag = dagdir.dag(
        "JOB B site.sub\nVARS B cpus=\"1\" req=\"(GLIDEIN_CMSSite =?= \\\"T1_XX_SiteB\\\")\"\n"
        "JOB A site.sub\nVARS A cpus=\"3\" req=\"true\"\n"  # only T2_XX_SiteA has 3 cores
        "JOB D site.sub\nVARS D cpus=\"1\" req=\"true\" +DESIRED_Sites=\"\\\"T1_XX_SiteB\\\"\"\n"
        "JOB N site.sub\nVARS N cpus=\"1\" "
        "req=\"!member(TARGET.GLIDEIN_CMSSite, {\\\"T1_XX_SiteB\\\"}) && MY.CMS_Role == \\\"Processing\\\"\"\n")
    _, info = run_dag(engine, dag)
    assert info.exit_code == 0
    b, a, d, n = (_ad_lines(dagdir.root / f"{x}.out") for x in "BADN")
    assert b["GLIDEIN_CMSSite"] == '"T1_XX_SiteB"' and b["Cpus"] == "1" and b["Memory"] == "500"
    assert a["GLIDEIN_CMSSite"] == '"T2_XX_SiteA"' and a["Cpus"] == "3"
    assert d["GLIDEIN_CMSSite"] == '"T1_XX_SiteB"' and n["GLIDEIN_CMSSite"] == '"T2_XX_SiteA"'
    assert b["DAGNodeName"] == '"B"' and b["CMS_Role"] == '"Processing"' and "T1_XX_SiteB" in b["Name"]
    out = (dagdir.root / "B.out").read_text()
    assert f"cwd={dagdir.root}" in out and "scratch=" in out  # no transfer: runs in initialdir


def test_never_matching_job_stays_idle_with_reason(engine: LocalEngine, dagdir: DagDir) -> None:
    dag = dagdir.dag("JOB BIG job.sub\nVARS BIG memory=\"100000\"\nJOB OK job.sub\n"
                     "NODE_STATUS_FILE i.status 0\n")
    cluster = engine.submit_dag(dag, SubmitOptions()).cluster_id
    deadline = time.monotonic() + WAIT_S
    while "OK" not in dagdir.starts() or "BIG" not in engine.query(cluster, "local").unmatched:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    info = engine.query(cluster, "local")
    assert info.state == DagJobState.running
    reason = info.unmatched["BIG"]
    assert "request_memory 100000 > Memory 8000" in reason and "T1_XX_SiteB" in reason
    assert info.counters["DAG_JobsIdle"] == 1
    time.sleep(0.6)  # longer than the status file's scan cycle
    status = {n.node: n for n in read_status_file(dagdir.root / "i.status").nodes}
    assert (status["BIG"].status, status["BIG"].details) == (3, "idle")
    engine.remove(cluster, "local", "cleanup")
    assert engine.wait(cluster, timeout=WAIT_S).exit_code == 2
    assert "BIG" not in dagdir.starts()


def test_periodic_remove_and_transfer(engine: LocalEngine, dagdir: DagDir) -> None:
    (dagdir.root / "input.txt").write_text("payload\n")
    write_exec(dagdir.root / "copy.sh", "#!/bin/sh\ncat input.txt > result.txt\npwd > where.txt\n")
    (dagdir.root / "xfer.sub").write_text(
        "executable = copy.sh\nshould_transfer_files = YES\ntransfer_input_files = input.txt\n"
        "transfer_output_files = result.txt\nqueue\n")
    (dagdir.root / "slow.sub").write_text(
        "executable = job.sh\narguments = \"$(JOB) 30 0 $(logfile)\"\n"
        "periodic_remove = (JobStatus == 2) && (time() - EnteredCurrentStatus > 1)\n"
        "+PeriodicRemoveReason = \"wall time exceeded\"\nqueue\n")
    log = dagdir.root / "post.log"
    dag = dagdir.dag(f"JOB X xfer.sub\nJOB S slow.sub\nSCRIPT POST S script.sh {log} 0 $RETURN\n"
                     "JOB T slow.sub\n")
    _, info = run_dag(engine, dag)
    assert info.exit_code == 1  # T was removed by its periodic_remove
    assert (dagdir.root / "result.txt").read_text() == "payload\n"
    assert not (dagdir.root / "where.txt").exists()  # only the listed outputs come back
    assert log.read_text().split() == ["-1002"]
    nodes_log = (dagdir.root / "test.dag.nodes.log").read_text()
    assert nodes_log.count("wall time exceeded") == 2
