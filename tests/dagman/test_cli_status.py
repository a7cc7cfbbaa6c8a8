"""`wms2 dag status FILE --json` on DAGs that never ran, on refused DAGs, and on real DAGMan files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from wms2.cli import app
from wms2.dagman.status_file import read_status_file

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"


def _status(tmp_path: Path, dag: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["dag", "status", str(dag), "--json", "--home", str(tmp_path / "home")])
    return result.exit_code, result.stdout, result.stderr


def test_not_started_dag_lists_its_nodes(tmp_path: Path) -> None:
    (tmp_path / "s.dag").write_text("JOB X x.sub\n")
    dag = tmp_path / "t.dag"
    dag.write_text("JOB A a.sub\nJOB B {\n executable = /bin/true\n queue\n}\nSPLICE S s.dag\n"
                   "SERVICE SV sv.sub\nDONE A\nPARENT A CHILD B S\nDOT t.dot\n")
    code, out, _ = _status(tmp_path, dag)
    assert code == 0
    data = json.loads(out)
    assert data["state"] == "not started" and data["source"] == "none"
    assert [(n["node"], n["status"]) for n in data["nodes"]] == [("A", 5), ("B", 0), ("S+X", 0)]
    assert data["services"] == ["SV"] and data["splices"] == ["S"]


def test_refused_dag_prints_file_line_reason_on_stderr(tmp_path: Path) -> None:
    dag = tmp_path / "bad.dag"
    dag.write_text("JOB A a.sub\nVARS A foo =\nJOB PARENT p.sub\n")
    code, out, err = _status(tmp_path, dag)
    assert code != 0 and out == ""
    assert err.splitlines() == [f"{dag}:3: Failed to parse JOB command: Node name is a reserved word",
                                f"{dag}:2: Failed to parse VARS command: No value specified for variable 'foo'"]


def test_status_from_real_dagman_out(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "dagman-runs" / "tiny_problems", run)
    code, out, _ = _status(tmp_path, run / "tiny_problems.dag")
    assert code == 0
    data = json.loads(out)
    assert data["source"] == "dagman_out" and data["state"] == "finished" and data["exit_code"] == 1
    assert data["dag_status"] == 2 and data["counts"]["Failed"] == 2
    nodes = {n["node"]: n for n in data["nodes"]}
    failed = "057c8caf-66f6-4612-abf7-cdea5b666b1b_label1_val1a_val2b"
    assert nodes[failed]["status"] == 6 and "failed with status 1" in nodes[failed]["details"]
    # the same statuses the real node status file of that run shows
    real = {n.node: n.status for n in read_status_file(run / "tiny_problems.node_status").nodes}
    assert {name: n["status"] for name, n in nodes.items()} == real
    assert data["dagman_out"]["final_started"] and data["dagman_out"]["services"] == ["provisioningJob"]
