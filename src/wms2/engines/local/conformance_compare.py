"""Structural comparison of the files a local run wrote with the files real DAGMan wrote for the same
DAG (node status file, rescue DAG, metrics, ``dagman.out``, nodes log).  Values that cannot match
(times, cluster ids, paths of the submit machine) are normalized away; everything else must be equal.
Each difference is one line ``<file kind>: <what differs>``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import htcondor2

from wms2.dagman.dagman_out_reader import read_dagman_out
from wms2.dagman.parser import parse_dag
from wms2.dagman.status_file import read_status_file

_JOB_ID = re.compile(r"\(\d+\.\d+\.\d+\)")
_ATTR = re.compile(r"^\s*(\w+) = ")
_TYPE = re.compile(r'^\s*Type = "(\w+)";')


def _layouts(text: str) -> dict[str, list[str]]:
    """Attribute names, in order, of the first ad of each Type."""
    layouts: dict[str, list[str]] = {}
    current: list[str] = []
    kind = ""
    for line in text.splitlines():
        if line.strip() == "[":
            current, kind = [], ""
        elif line.strip() == "]":
            layouts.setdefault(kind, current)
        elif m := _TYPE.match(line):
            kind = m.group(1)
            current.append("Type")
        elif m := _ATTR.match(line):
            current.append(m.group(1))
    return layouts


def compare_status(real: Path, ours: Path) -> list[str]:
    out: list[str] = []
    if _layouts(real.read_text()) != _layouts(ours.read_text()):
        out.append("node status file: attribute layout differs")
    r, o = read_status_file(real), read_status_file(ours)
    if (r.dag_status, r.dag_status_note) != (o.dag_status, o.dag_status_note):
        out.append(f"node status file: DagStatus real {r.dag_status} ({r.dag_status_note}), "
                   f"ours {o.dag_status} ({o.dag_status_note})")
    if r.counts() != o.counts():
        out.append(f"node status file: counts real {r.counts()}, ours {o.counts()}")
    rn = [(n.node, n.status, _JOB_ID.sub("(N)", n.details), n.retry_count) for n in r.nodes]
    on = [(n.node, n.status, _JOB_ID.sub("(N)", n.details), n.retry_count) for n in o.nodes]
    for a, b in zip(rn, on, strict=False):
        if a != b:
            out.append(f"node status file: node real {a}, ours {b}")
    if len(rn) != len(on):
        out.append(f"node status file: {len(rn)} nodes real, {len(on)} ours")
    if not all(f.startswith("/") for f in o.dag_files):
        out.append(f"node status file: DagFiles not absolute: {o.dag_files}")
    return out


def _rescue_shape(path: Path) -> tuple[list[str], list[str]]:
    header: list[str] = []
    done: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith("#   the "):
            header.append("#   the <DAG> DAG file")
        elif line.startswith("# Created "):
            header.append("# Created <DATE>")
        elif line.startswith("#"):
            header.append(line)
        elif line.startswith("DONE "):
            done.append(line)
    return header, done


def compare_rescue(real: Path, ours: Path) -> list[str]:
    if real.is_file() != ours.is_file():
        return [f"rescue DAG: real {'present' if real.is_file() else 'absent'}, "
                f"ours {'present' if ours.is_file() else 'absent'}"]
    if not real.is_file():
        return []
    (rh, rd), (oh, od) = _rescue_shape(real), _rescue_shape(ours)
    out = [f"rescue DAG: header line real {a!r}, ours {b!r}" for a, b in zip(rh, oh, strict=False) if a != b]
    if len(rh) != len(oh):
        out.append(f"rescue DAG: {len(rh)} header lines real, {len(oh)} ours")
    if sorted(rd) != sorted(od):
        out.append(f"rescue DAG: DONE lines differ: real {sorted(rd)}, ours {sorted(od)}")
    return out


def compare_metrics(real: Path, ours: Path) -> list[str]:
    if not real.is_file():
        return []
    if not ours.is_file():
        return ["metrics: not written"]
    r, o = json.loads(real.read_text()), json.loads(ours.read_text())
    out: list[str] = []
    if r.get("metrics_version", 1) != o.get("metrics_version", 1):
        out.append(f"metrics: version {r.get('metrics_version', 1)} real (DAGMan {r.get('version')}), "
                   f"{o.get('metrics_version', 1)} ours; key sets differ accordingly")
    for key in ("exitcode", "DagStatus", "rescue_dag_number"):
        if r.get(key) != o.get(key):
            out.append(f"metrics: {key} real {r.get(key)}, ours {o.get(key)}")
    return out


def compare_dagman_out(real: Path, ours: Path) -> list[str]:
    if not real.is_file():
        return []
    if not ours.is_file():
        return ["dagman.out: not written"]
    r, o = read_dagman_out(real), read_dagman_out(ours)
    out: list[str] = []
    for name in ("total_nodes", "exit_status", "counts", "final_started", "services"):
        if getattr(r, name) != getattr(o, name):
            out.append(f"dagman.out: {name} real {getattr(r, name)}, ours {getattr(o, name)}")
    if sorted(r.failed_nodes) != sorted(o.failed_nodes):
        out.append(f"dagman.out: failed nodes real {sorted(r.failed_nodes)}, ours {sorted(o.failed_nodes)}")
    if (r.rescue_file is None) != (o.rescue_file is None):
        out.append(f"dagman.out: rescue written real {r.rescue_file is not None}, ours {o.rescue_file is not None}")
    return out


def _submitted(path: Path) -> set[str]:
    names: set[str] = set()
    for event in htcondor2.JobEventLog(str(path)).events(0):
        if event.type == htcondor2.JobEventType.SUBMIT and "LogNotes" in event:
            names.add(str(event["LogNotes"]).removeprefix("DAG Node: "))
    return names


def compare_nodes_log(real: Path, ours: Path) -> list[str]:
    if not real.is_file():
        return []
    if not ours.is_file():
        return ["nodes.log: not written"]
    r, o = _submitted(real), _submitted(ours)
    return [] if r == o else [f"nodes.log: submitted nodes real {sorted(r)}, ours {sorted(o)}"]


def compare_outputs(real_dag: Path, staged_dag: Path) -> list[str]:
    spec = parse_dag(staged_dag)
    out: list[str] = []
    real_status = real_dag.with_suffix(".node_status")
    if real_status.is_file() and spec.node_status_file:
        ours = spec.directory / spec.node_status_file
        out += compare_status(real_status, ours) if ours.is_file() else ["node status file: not written"]
    for suffix, check in ((".rescue001", compare_rescue), (".metrics", compare_metrics),
                          (".dagman.out", compare_dagman_out), (".nodes.log", compare_nodes_log)):
        out += check(Path(str(real_dag) + suffix), Path(str(staged_dag) + suffix))
    return out
