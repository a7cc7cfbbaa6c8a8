"""The errors summary of a request (``wms2 errors NAME``, ``GET /requests/{name}/errors``).

Read on demand from DAGMan's and the POST scripts' files of every DAG of the request (no per-job
tables): final node failures by category, site, exit code and step; bad input files; the log tails of
a few failing nodes; the rescue history.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wms2.core.active import workflow_of
from wms2.core.post_results import iter_post_results
from wms2.core.recovery import dags_of
from wms2.db.tables import InputFileRow, RequestRow, SiteBanRow
from wms2.domain.enums import InputFileState

LOG_SAMPLES = 5
LOG_LINES = 20


def error_summary(session: Session, request: RequestRow) -> dict[str, Any]:
    wf = workflow_of(session, request)
    by_category: Counter[str] = Counter()
    by_site: Counter[str] = Counter()
    by_exit: Counter[str] = Counter()
    by_step: Counter[str] = Counter()
    bad_files: set[str] = set()
    samples: list[dict[str, Any]] = []
    seen_dirs: set[str] = set()
    dags = dags_of(session, wf.id)
    for dag in dags:
        if dag.submit_dir in seen_dirs:
            continue  # rescues share the round directory
        seen_dirs.add(dag.submit_dir)
        for wu, result in iter_post_results(Path(dag.submit_dir), final_only=True):
            category = result.classification.category
            if category == "success":
                continue
            by_category[category] += 1
            by_site[result.job.site or "unknown"] += 1
            by_exit[str(result.exit_code)] += 1
            by_step[str(result.cmssw.get("failed_step") or result.role)] += 1
            bad_files.update(result.classification.bad_input_files)
            if len(samples) < LOG_SAMPLES:
                samples.append({"round": dag.round, "work_unit": wu, "node": result.node,
                                "attempt": result.attempt, "site": result.job.site, "exit_code": result.exit_code,
                                "category": category, "message": result.message,
                                "log_tail": result.log_tail[-LOG_LINES:]})
    excluded = sorted(session.scalars(select(InputFileRow.lfn).where(
        InputFileRow.workflow_id == wf.id, InputFileRow.state == InputFileState.excluded)))
    bans = [{"id": b.id, "site": b.site, "reason": b.reason, "expires_at": b.expires_at.isoformat()
             if b.expires_at else None, "lifted": b.removed_at is not None}
            for b in session.scalars(select(SiteBanRow).where(SiteBanRow.workflow_id == wf.id))]
    return {
        "request": request.name,
        "status": str(request.status),
        "failures": sum(by_category.values()),
        "by_category": dict(by_category.most_common()),
        "by_site": dict(by_site.most_common()),
        "by_exit_code": dict(by_exit.most_common()),
        "by_step": dict(by_step.most_common()),
        "bad_input_files": sorted(bad_files),
        "excluded_files": excluded,
        "site_bans": bans,
        "samples": samples,
        "rescue_history": [{"dag_id": d.id, "round": d.round, "parent": d.parent_dag_id, "kind": d.rescue_kind,
                            "status": str(d.status), "failed_work_units": d.round_metrics.get("failed_work_units", []),
                            "rescue_dag": d.rescue_dag} for d in dags],
    }
