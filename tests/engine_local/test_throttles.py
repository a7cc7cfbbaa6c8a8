"""Conformance: CATEGORY/MAXJOBS and priority order (reference §8.1, §8.2)."""

from __future__ import annotations

from tests.engine_local.conftest import DagDir, run_dag
from wms2.engines.local.client import LocalEngine


def _max_concurrency(events: list[tuple[str, str, float]], names: set[str]) -> int:
    running = peak = 0
    for kind, name, _ in sorted(events, key=lambda e: (e[2], e[0] == "start")):
        if name not in names:
            continue
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    return peak


def test_category_maxjobs_limits_concurrency(engine: LocalEngine, dagdir: DagDir) -> None:
    nodes = [f"N{i}" for i in range(8)]
    others = [f"O{i}" for i in range(4)]
    text = "".join(f"JOB {n} job.sub\nVARS {n} sleep=\"0.3\"\nCATEGORY {n} Limited\n" for n in nodes)
    text += "".join(f"JOB {n} job.sub\nVARS {n} sleep=\"0.3\"\n" for n in others)
    dag = dagdir.dag(text + "MAXJOBS Limited 2\n")
    _, info = run_dag(engine, dag)
    assert info.exit_code == 0
    events = dagdir.events()
    assert _max_concurrency(events, set(nodes)) == 2
    assert _max_concurrency(events, set(others)) > 2  # the uncategorised nodes are not throttled


def test_priority_order(engine: LocalEngine, dagdir: DagDir) -> None:
    prios = {"B1": 5, "B2": 3, "B3": 8, "B4": 6, "B5": 10, "B6": 1, "B7": 9}
    text = "JOB A job.sub\n"
    for name, prio in prios.items():
        text += f"JOB {name} job.sub\nPRIORITY {name} {prio}\nCATEGORY {name} One\nPARENT A CHILD {name}\n"
    dag = dagdir.dag(text + "MAXJOBS One 1\n")
    _, info = run_dag(engine, dag)
    assert info.exit_code == 0
    assert dagdir.starts() == ["A", *sorted(prios, key=lambda n: -prios[n])]
