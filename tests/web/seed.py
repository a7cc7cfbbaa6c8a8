"""State for the browser tests, written into the server's database and submit area:

* ``web_rounds``: completed after three rounds (round parameters and measurements for the charts), its
  last DAG with DAGMan files: 1,250 work units in mixed states, node files, failed POST side files;
* ``web_held``: held after a failed round whose POST files carry a ``<script>`` log tail; its campaign is
  HTML (``<img onerror>``): everything must render as text;
* a site ban to lift;
* the live request is submitted by the test itself (the real lifecycle runs it on the local engine).

Fakes of DAGMan's files live here, under tests/ (never in src/)."""

from __future__ import annotations

import copy
import json
import time
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import select

from wms2.core.lifecycle import LifecycleManager
from wms2.core.service import init_home
from wms2.core.transitions import SYSTEM, transition, transition_dag, transition_workflow
from wms2.core.workflow_manager import submit_documents
from wms2.dagman.status_file import DagStatusFile, NodeStatusEntry, write_status_file
from wms2.db.base import utcnow
from wms2.db.tables import DagRow, RequestRow, SiteBanRow, WorkflowRow
from wms2.domain.enums import DAGStatus, RequestStatus, WorkflowStatus

XSS_CAMPAIGN = "<img src=x onerror=window.__xss=1>Camp"
XSS_LOG = "<script>window.__xss=2</script> segfault in module"
SITES = ("T2_XX_SiteA", "T1_XX_SiteB")
GRID_WORK_UNITS = 1250  # the DAG view must stay usable at 1,250 WUs (10,000 nodes)


def tiny_generation(name: str, events: int = 200, campaign: str = "WebTest") -> dict[str, Any]:
    """The demo's generation sample, shrunk to one work unit of two short jobs, non-adaptive."""
    doc = json.loads(resources.files("wms2.samples").joinpath("demo_generation.json").read_text())
    doc = copy.deepcopy(doc)
    doc["RequestName"] = name
    doc["Campaign"] = campaign
    doc["ProcessingString"] = doc["Step1"]["ProcessingString"] = "GEN_" + name.replace("_", "")
    doc["WMS2Adaptive"] = False
    doc["Step1"]["RequestNumEvents"] = events
    doc["Step1"]["EventsPerJob"] = events // 2
    doc["Step1"]["EventsPerLumi"] = events // 4
    return doc


def _post(wu_dir: Path, node: str, exit_code: int, category: str, site: str, log: list[str], at: float) -> None:
    wu_dir.mkdir(parents=True, exist_ok=True)
    (wu_dir / f"{node}.post.json").write_text(json.dumps({
        "node": node, "role": "Processing", "work_unit": wu_dir.name, "timestamp": at, "attempt": 3,
        "max_retries": 3, "final": True, "exit_code": exit_code, "post_exit": 42,
        "job": {"exit_code": exit_code, "site": site}, "cmssw": {"failed_step": "GENSIM"},
        "classification": {"category": category, "retryable": False}, "message": f"{node} failed ({exit_code})",
        "log_tail": log}))


def write_grid_dag(submit_dir: Path, work_units: int) -> None:
    """An outer status file with WUs in every state, and node files for the first few."""
    states = [5] * (work_units // 2) + [3] * (work_units // 4) + [6, 7, 1, 0]
    states += [1] * (work_units - len(states))
    nodes = [NodeStatusEntry(f"mg_{i:06d}", s, "", 1 if i % 7 == 3 else 0) for i, s in enumerate(states[:work_units])]
    submit_dir.mkdir(parents=True, exist_ok=True)
    write_status_file(submit_dir / "workflow.dag.status", DagStatusFile(
        dag_files=["workflow.dag"], timestamp=int(time.time()), dag_status=3, nodes=nodes, nodes_total=len(nodes),
        nodes_done=sum(1 for n in nodes if n.status == 5)))
    now = time.time()
    for i in range(min(work_units, 12)):
        wu = submit_dir / f"mg_{i:06d}"
        wu.mkdir(exist_ok=True)
        site = SITES[i % 2]
        (wu / "elected_site").write_text(site + "\n")
        inner = [NodeStatusEntry("landing", 5), NodeStatusEntry("proc_000000", 5, "", 1),
                 NodeStatusEntry("proc_000001", 6 if i % 3 == 0 else 5, "Job proc failed with status 8001", 3),
                 NodeStatusEntry("merge", 5 if i % 3 else 0), NodeStatusEntry("cleanup", 5 if i % 3 else 0)]
        write_status_file(wu / "group.dag.status", DagStatusFile(dag_files=["group.dag"], timestamp=1,
                                                                 dag_status=5, nodes=inner))
        if i % 3 == 0:
            kind = (i // 3) % 3
            _post(wu, "proc_000001", (8001, 50660, 8028)[kind], ("permanent", "memory", "infrastructure")[kind],
                  site, ["cmsRun starting", f"Exception at event {100 + i}"], now - 3600 + i * 300)


def _to_active(session: Any, name: str) -> tuple[RequestRow, WorkflowRow]:
    row = session.scalar(select(RequestRow).where(RequestRow.name == name))
    wf = session.scalar(select(WorkflowRow).where(WorkflowRow.request_id == row.id))
    transition(row, RequestStatus.planning, SYSTEM, "web test state")
    transition_workflow(wf, WorkflowStatus.planning)
    transition(row, RequestStatus.active, SYSTEM, "web test state")
    transition_workflow(wf, WorkflowStatus.active)
    return row, wf


def _dag(session: Any, wf: WorkflowRow, rnd: int, submit_dir: Path, end: DAGStatus, params: dict[str, Any],
         metrics: dict[str, Any], wus: int, hours_ago: float) -> DagRow:
    now = utcnow()
    dag = DagRow(workflow_id=wf.id, round=rnd, dag_file=str(submit_dir / "workflow.dag"), submit_dir=str(submit_dir),
                 cluster_id=9000 + rnd, schedd_name="local", total_nodes=wus * 11, total_work_units=wus,
                 status=DAGStatus.ready, submitted_at=now - timedelta(hours=hours_ago),
                 completed_work_units={f"mg_{i:06d}": {"files": []} for i in range(wus if end == DAGStatus.completed
                                                                                   else wus // 2)},
                 round_params=params, round_metrics=metrics,
                 node_counters={"wu_total": wus, "wu_done": wus // 2, "done": wus * 5, "failed": 4, "running": 3})
    session.add(dag)
    session.flush()
    transition_dag(session, dag, DAGStatus.submitted)
    transition_dag(session, dag, DAGStatus.running)
    transition_dag(session, dag, end)
    dag.completed_at = now - timedelta(hours=hours_ago - 1)
    wf.current_dag_id = dag.id
    return dag


def seed_database(settings: Any, dags_root: Path) -> dict[str, Any]:
    """Before the server starts: requests in the statuses the tests need (the lifecycle is not running yet)."""
    db = init_home(settings)
    try:
        with db.session() as s:
            submit_documents(s, [("", tiny_generation("web_rounds", 4000)),
                                 ("", tiny_generation("web_held", 400, campaign=XSS_CAMPAIGN))], settings, "seed")
        LifecycleManager(db, settings).run_cycle()  # submitted -> queued, with their workflows
        with db.session() as s:
            _, wf = _to_active(s, "web_rounds")
            for rnd, (mem, cores, epj, rss, eff) in enumerate(((4000, 2, 100, 310.0, 0.62), (2400, 2, 200, 305.0, 0.81),
                                                               (2200, 1, 400, 290.0, 0.93))):
                last = rnd == 2
                sub = dags_root / "web_rounds" / str(rnd)
                if last:
                    write_grid_dag(sub, GRID_WORK_UNITS)
                grid = _dag(s, wf, rnd, sub, DAGStatus.completed,
                     {"request_memory_mb": mem, "request_cpus": cores, "events_per_job": epj},
                     {"peak_rss_mb": rss, "cpu_efficiency": eff, "events_registered": 800 * (rnd + 1)},
                     GRID_WORK_UNITS if last else 8, 6 - 2 * rnd)
            wf.events_produced = 2400
            transition(s.scalar(select(RequestRow).where(RequestRow.name == "web_rounds")), RequestStatus.completed,
                       SYSTEM, "web test state")
            transition_workflow(wf, WorkflowStatus.completed)
            row, wf = _to_active(s, "web_held")
            held_dir = dags_root / "web_held" / "0"
            _post(held_dir / "mg_000000", "proc_000001", 8001, "permanent", SITES[0], ["cmsRun starting", XSS_LOG],
                  time.time() - 600)
            _dag(s, wf, 0, held_dir, DAGStatus.failed, {"request_memory_mb": 4000, "request_cpus": 2,
                                                          "events_per_job": 200}, {}, 1, 1.0)
            transition(row, RequestStatus.partial, SYSTEM, "round failed")
            transition(row, RequestStatus.held, SYSTEM, "failure ratio 1.00 >= 0.20")
            ban = SiteBanRow(site=SITES[1], workflow_id=None, reason="web test: 5 of 6 attempts failed",
                             failure_data={"failed": 5, "attempts": 6}, expires_at=utcnow() + timedelta(days=7))
            s.add(ban)
            s.flush()
            return {"ban_id": ban.id, "grid_dag": grid.id}
    finally:
        db.dispose()
