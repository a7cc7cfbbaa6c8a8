"""DAGMan's files of a running two-WU DAG, shared by the API and CLI tests."""

from __future__ import annotations

import json
from pathlib import Path

from wms2.dagman.status_file import DagStatusFile, NodeStatusEntry, write_status_file


def write_running_dag(submit_dir: Path, site: str) -> None:
    """Outer status: mg_000000 running, mg_000001 done; mg_000000 elected ``site`` and has one processing
    node running after a retry, one failed (8001) and a POST report (50660)."""
    submit_dir.mkdir(parents=True, exist_ok=True)
    write_status_file(submit_dir / "workflow.dag.status", DagStatusFile(
        dag_files=["workflow.dag"], timestamp=1, dag_status=3,
        nodes=[NodeStatusEntry("mg_000000", 3), NodeStatusEntry("mg_000001", 5)], nodes_total=2, nodes_done=1))
    wu = submit_dir / "mg_000000"
    wu.mkdir(exist_ok=True)
    (wu / "elected_site").write_text(f"{site}\n")
    write_status_file(wu / "group.dag.status", DagStatusFile(
        dag_files=["group.dag"], timestamp=1, dag_status=3,
        nodes=[NodeStatusEntry("landing", 5), NodeStatusEntry("proc_000001", 3, "", 2),
               NodeStatusEntry("proc_000002", 6, "Job proc (12.0.0) failed with status 8001", 3),
               NodeStatusEntry("merge", 0)]))
    (wu / "proc_000001.post.json").write_text(json.dumps({"exit_code": 50660, "job": {"site": site}}))
