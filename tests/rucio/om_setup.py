"""WMS2 rows for a round whose work units wrote files at two sites (shared by the Rucio tests)."""

from __future__ import annotations

from typing import Any

from wms2.db.session import Database
from wms2.db.tables import DagRow, ProcessingBlockRow, RequestRow, WorkflowRow, WorkUnitRecordRow
from wms2.domain.enums import BlockStatus, DAGStatus, RequestStatus, WorkflowStatus

SITES = ("T2_XX_SiteA", "T1_XX_SiteB")
RSE_OF = {"T2_XX_SiteA": "T2_XX_SiteA", "T1_XX_SiteB": "T1_XX_SiteB_Disk"}


def lfn(dataset: str, wu: str, i: int) -> str:
    prim, proc, tier = dataset.strip("/").split("/")
    return f"/store/mc/Era/{prim}/{tier}/{proc}/{wu}-{i}.root"


def wu_record(dataset: str, name: str, site: str, n_files: int) -> dict[str, Any]:
    return {"site": site, "registered": False, "metrics": None, "processed_input_lfns": [],
            "files": [{"dataset": dataset, "tier": dataset.rsplit("/", 1)[1], "lfn": lfn(dataset, name, i),
                       "size": 1000 + i, "adler32": f"{0xabc0 + i:08x}", "events": 10 + i,
                       "lumis": {"1": [i + 1]}, "input_lfns": []} for i in range(n_files)]}


def setup_round(db: Database, request: str, dataset: str, wus: int = 2, n_files: int = 2) -> tuple[int, int]:
    """A request/workflow/DAG with ``wus`` completed WUs (alternating sites) and one open block."""
    with db.session() as s:
        req = RequestRow(name=request, requestor="t", request_type="StepChain", document={}, spec={}, priority=1,
                         status=RequestStatus.active, output_datasets=[dataset])
        s.add(req)
        s.flush()
        wf = WorkflowRow(request_id=req.id, request_name=request, status=WorkflowStatus.active)
        s.add(wf)
        s.flush()
        names = [f"mg_{i:06d}" for i in range(wus)]
        sites = {n: SITES[i % len(SITES)] for i, n in enumerate(names)}
        dag = DagRow(workflow_id=wf.id, round=0, dag_file="/x/workflow.dag", submit_dir="/x", total_work_units=wus,
                     status=DAGStatus.running, completed_work_units={n: {"site": sites[n]} for n in names})
        s.add(dag)
        s.add_all(WorkUnitRecordRow(workflow_id=wf.id, round=0, name=n, site=sites[n],
                                    record=wu_record(dataset, n, sites[n], n_files)) for n in names)
        s.flush()
        s.add(ProcessingBlockRow(workflow_id=wf.id, dag_id=dag.id, round=0, block_index=0, dataset=dataset,
                                 total_work_units=wus, status=BlockStatus.open))
        return wf.id, dag.id


def expected_files(dataset: str, wus: int = 2, n_files: int = 2) -> dict[str, str]:
    """LFN -> RSE of every file :func:`setup_round` declares."""
    out: dict[str, str] = {}
    for i in range(wus):
        name = f"mg_{i:06d}"
        for j in range(n_files):
            out[lfn(dataset, name, j)] = RSE_OF[SITES[i % len(SITES)]]
    return out
