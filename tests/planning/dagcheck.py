"""Structural checks of a rendered round, independent of the engines' parsers."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from wms2.sandbox.manifest import WorkUnitManifest

ROLE_FILES = ("landing.sub", "proc.sub", "merge.sub", "cleanup.sub")
DAG_COMMANDS = {"JOB", "VARS", "SCRIPT", "RETRY", "ABORT-DAG-ON", "CATEGORY", "PARENT", "MAXJOBS", "SUBDAG",
                "CONFIG", "NODE_STATUS_FILE"}
SUBMIT_KEYS = {"universe", "executable", "arguments", "output", "error", "should_transfer_files",
               "when_to_transfer_output", "transfer_input_files", "+cms_requestname", "+cms_workflowid",
               "+cms_noderole", "+wms2_round", "+wms2_workunit", "request_cpus", "request_memory", "request_disk",
               "+desired_sites", "requirements", "periodic_remove", "+periodicremovereason",
               "wms2_sitebans"}  # landing: bans macro rewritten for rescues (wms2.core.recovery)


def dag_lines(path: Path) -> list[list[str]]:
    out = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = line.split()
        assert tokens[0] in DAG_COMMANDS, f"{path}: unexpected DAG command {tokens[0]!r} in {raw!r}"
        out.append(tokens)
    return out


def check_group(path: Path, expected_proc: int) -> dict[str, int]:
    lines = dag_lines(path)
    jobs = [t[1] for t in lines if t[0] == "JOB"]
    procs = [j for j in jobs if j.startswith("proc_")]
    assert len(procs) == expected_proc and set(jobs) - set(procs) == {"landing", "merge", "cleanup"}
    assert all(re.fullmatch(r"proc_\d{6,}", p) for p in procs)
    submits = {t[1]: t[2] for t in lines if t[0] == "JOB"}
    assert {submits["landing"], submits["merge"], submits["cleanup"]} == {"landing.sub", "merge.sub", "cleanup.sub"}
    assert all(submits[p] == "proc.sub" for p in procs)
    vars_ = {t[1]: t[2] for t in lines if t[0] == "VARS"}
    assert vars_ == {j: f'node="{j}"' for j in jobs}
    parents = [t for t in lines if t[0] == "PARENT"]
    edges = sum((t.index("CHILD") - 1) * (len(t) - t.index("CHILD") - 1) for t in parents)
    assert edges == 2 * expected_proc + 1
    scripts = [(t[1], t[2]) for t in lines if t[0] == "SCRIPT"]
    assert sorted(n for k, n in scripts if k == "PRE") == sorted([*procs, "merge", "cleanup"])
    assert sorted(n for k, n in scripts if k == "POST") == sorted([*procs, "landing", "merge"])
    for t in lines:
        if t[0] == "SCRIPT":
            assert t[3] == "../sandbox/wms2-job" and t[4] in ("pre", "post") and t[5] == "$JOB"
    retries = {t[1]: t[2:] for t in lines if t[0] == "RETRY"}
    assert retries["landing"] == ["3", "UNLESS-EXIT", "42"] and retries["merge"] == ["2", "UNLESS-EXIT", "42"]
    assert retries["cleanup"] == ["1"] and all(retries[p] == ["3", "UNLESS-EXIT", "42"] for p in procs)
    aborts = {t[1]: t[2:] for t in lines if t[0] == "ABORT-DAG-ON"}
    assert aborts == {n: ["43", "RETURN", "1"] for n in [*procs, "merge"]}
    return {"jobs": len(jobs), "edges": edges}


def submit_values(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[-1] == "queue", f"{path}: queue must be last"
    for line in lines[:-1]:
        if line.startswith("include :"):
            assert line == "include : $(node).override.sub"
            continue
        key, sep, value = line.partition(" = ")
        assert sep and key.lower() in SUBMIT_KEYS, f"{path}: unexpected line {line!r}"
        values[key.lower()] = value
    include = any(ln.startswith("include") for ln in lines)
    assert include == (path.name != "landing.sub")
    assert lines[-2].startswith("include") == include
    return values


def check_round(root: Path, expected_wus: int, expected_proc: int) -> dict[str, int]:
    outer = dag_lines(root / "workflow.dag")
    subdags = [t for t in outer if t[0] == "SUBDAG"]
    assert len(subdags) == expected_wus
    assert all(t == ["SUBDAG", "EXTERNAL", t[2], "group.dag", "DIR", t[2]] for t in subdags)
    assert ["CONFIG", "dagman.config"] in outer
    assert any(t[:2] == ["NODE_STATUS_FILE", "workflow.dag.status"] for t in outer)
    proc_total = 0
    for t in subdags:
        wdir = root / t[2]
        manifest = WorkUnitManifest.load(wdir / "manifest.json")
        assert manifest.work_unit == t[2]
        proc_total += check_group(wdir / "group.dag", len(manifest.jobs))["jobs"] - 3
        for name in ROLE_FILES:
            vals = submit_values(wdir / name)
            assert vals["executable"] == "../sandbox/wms2-job"
            assert shlex.split(vals["arguments"])[0].split()[0] in ("land", "run", "merge", "cleanup")
            assert vals["+wms2_workunit"] == f'"{t[2]}"'
    assert proc_total == expected_proc
    return {"work_units": len(subdags), "processing": proc_total}
