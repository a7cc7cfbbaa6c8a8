"""`dagman.out` reader on real DAGMan 23.x/24.x files and on what our writer prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from wms2.dagman.dagman_out import DagmanOut
from wms2.dagman.dagman_out_reader import parse_dagman_out, read_dagman_out
from wms2.dagman.model import DagStatusCode
from wms2.dagman.status_file import read_status_file

RUNS = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "dagman-runs"
OUTS = sorted(RUNS.rglob("*.dagman.out"))


@pytest.mark.parametrize("out", OUTS, ids=lambda p: p.name)
def test_real_dagman_out_agrees_with_the_real_status_file(out: Path) -> None:
    summary = read_dagman_out(out)
    status = read_status_file(out.parent / out.name.replace(".dag.dagman.out", ".node_status"))
    counts = status.counts()
    assert summary.finished and summary.cluster and summary.version.startswith(("23.", "24."))
    assert summary.total_nodes == counts["NodesTotal"]
    assert summary.counts == {"Done": counts["NodesDone"], "Pre": counts["NodesPre"],
                              "Queued": counts["NodesQueued"], "Post": counts["NodesPost"],
                              "Ready": counts["NodesReady"], "Un-Ready": counts["NodesUnready"],
                              "Failed": counts["NodesFailed"], "Futile": counts["NodesFutile"]}
    assert sorted(summary.failed_nodes) == sorted(n.node for n in status.nodes if n.status == 6)
    assert summary.exit_status == (0 if status.dag_status == 5 else 1)
    assert (summary.rescue_file is not None) == (summary.exit_status != 0)


def test_only_the_last_run_counts_and_errors_are_kept() -> None:
    text = (
        "01/01/25 10:00:00 ** condor_scheduniv_exec.7.0 (CONDOR_DAGMAN) STARTING UP\n"
        "01/01/25 10:00:01 EXITING WITH STATUS 1\n"
        "01/01/25 10:01:00 ** condor_scheduniv_exec.8.0 (CONDOR_DAGMAN) STARTING UP\n"
        "01/01/25 10:01:00 ERROR: bad.dag:3 Failed to parse JOB command: Missing node name\n"
    )
    summary = parse_dagman_out(text)
    assert summary.cluster == 8 and summary.runs == 2 and not summary.finished
    assert summary.errors == ["bad.dag:3 Failed to parse JOB command: Missing node name"]


def test_our_writer_is_read_back(tmp_path: Path) -> None:
    out = DagmanOut(tmp_path / "x.dag.dagman.out", 42)
    out.banner()
    out.log("Dag contains 3 total nodes")
    out.log("Submitting HTCondor Node A job(s)...")
    out.log("\tassigned HTCondor ID (43.0.0)")
    out.log("Node A job proc (43.0.0) failed with status 3.")
    out.table(3, (1, 0, 0, 0, 0, 0, 1, 1), DagStatusCode.NODE_FAILED)
    out.failed_report([("A", "Job proc (43.0.0) failed with status 3")])
    out.log("Writing Rescue DAG to /x/x.dag.rescue001...")
    out.exiting(1)
    out.close()
    summary = read_dagman_out(tmp_path / "x.dag.dagman.out")
    assert (summary.cluster, summary.total_nodes, summary.dag_status, summary.exit_status) == (42, 3, 2, 1)
    assert summary.counts["Failed"] == 1 and summary.counts["Futile"] == 1
    assert summary.failed_nodes == {"A": "Job proc (43.0.0) failed with status 3"}
    assert summary.nodes["A"].job_ids == ["43.0"] and summary.rescue_file == "/x/x.dag.rescue001"
