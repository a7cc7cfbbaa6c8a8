"""Queries behind ``/api/v1/dashboard`` (see :mod:`wms2.api.routers.dashboard`).

Each function selects only the columns it shows, in a fixed number of queries whatever the number of
requests (a page of rows costs five queries, not five per row), so the overview stays fast with
10,000 requests in the database (``bench/dashboard_latency.py``).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from wms2.api.progress import SECONDS_PER_HOUR
from wms2.config import Settings
from wms2.core import listings
from wms2.core.post_results import iter_post_results
from wms2.dagman.model import NodeStatus
from wms2.dagman.status_file import try_read_status_file
from wms2.db.tables import AlertRow, DagRow, InputFileRow, LifecycleCycleRow, RequestRow, WorkflowRow
from wms2.domain.enums import DAGStatus, InputFileState, RequestStatus

QUEUE_SHOWN = 10  # head of the admission queue on the overview
LIVE_DAGS_SHOWN = 50  # live DAGs on the overview (the newest first)
ALERTS_SHOWN = 50  # open alerts on the overview (the newest first)
LIVE_DAG_STATUSES = (DAGStatus.submitted, DAGStatus.running, DAGStatus.halted)
OUTER_STATUS = "workflow.dag.status"
# Bucket widths for the failures-over-time chart: the first that gives at most MAX_BUCKETS buckets.
BUCKET_CHOICES_S = (60, 300, 900, 3600, 6 * 3600, 86400)
MAX_BUCKETS = 60


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def overview(session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    counts = dict.fromkeys((s.value for s in RequestStatus), 0)
    counts.update({str(s): n for s, n in session.execute(
        select(RequestRow.status, func.count(RequestRow.id)).group_by(RequestRow.status))})
    live = session.execute(
        select(DagRow.id, DagRow.round, DagRow.status, DagRow.total_work_units, DagRow.node_counters,
               DagRow.submitted_at, WorkflowRow.request_name)
        .join(WorkflowRow, WorkflowRow.id == DagRow.workflow_id)
        .where(DagRow.status.in_(LIVE_DAG_STATUSES), WorkflowRow.current_dag_id == DagRow.id)
        .order_by(DagRow.id.desc()).limit(LIVE_DAGS_SHOWN)).all()
    alerts = session.execute(
        select(AlertRow.id, AlertRow.request_name, AlertRow.kind, AlertRow.reason, AlertRow.status_at_alert,
               AlertRow.created_at)
        .where(AlertRow.acknowledged_at.is_(None)).order_by(AlertRow.id.desc()).limit(ALERTS_SHOWN)).all()
    last = session.execute(select(LifecycleCycleRow.started_at, LifecycleCycleRow.duration_s,
                                  LifecycleCycleRow.errors)
                           .order_by(LifecycleCycleRow.id.desc()).limit(1)).first()
    return {
        "counts": counts,
        "total": sum(counts.values()),
        "queue": listings.admission_queue(session, settings, QUEUE_SHOWN, 0, now),
        "live_dags": [{"dag_id": d.id, "request": d.request_name, "round": d.round, "status": str(d.status),
                       "work_units": d.total_work_units, "work_units_done": int(d.node_counters.get("wu_done", 0)),
                       "nodes_failed": int(d.node_counters.get("failed", 0)),
                       "nodes_running": int(d.node_counters.get("running", 0)),
                       "submitted_at": _iso(d.submitted_at)} for d in live],
        "alerts": [{"id": a.id, "request": a.request_name, "kind": a.kind, "reason": a.reason,
                    "status_at_alert": a.status_at_alert, "at": _iso(a.created_at),
                    "stuck": a.kind.startswith("stuck") or a.kind in ("slow_dag", "schedd_unreachable")}
                   for a in alerts],
        "last_cycle": None if last is None else {"started_at": _iso(last.started_at),
                                                 "duration_s": last.duration_s, "errors": last.errors},
    }


def _search(q: str) -> Any:
    """Substring of name, campaign or requestor, as a union of three id selections: each one reads only its
    column's index (name, campaign and requestor are indexed), never the rows with their large stored
    documents — a plain ``OR`` over the table made SQLite walk 10,000 documents (300 ms)."""
    ids = union(*(select(RequestRow.id).where(column.icontains(q, autoescape=True))
                  for column in (RequestRow.name, RequestRow.campaign, RequestRow.requestor)))
    return RequestRow.id.in_(select(ids.subquery().c.id))


def request_rows(session: Session, limit: int, offset: int, status: RequestStatus | None, q: str | None,
                 now: datetime) -> dict[str, Any]:
    conds = []
    if status is not None:
        conds.append(RequestRow.status == status)
    if q is not None:
        conds.append(_search(q))
    total = session.scalar(select(func.count()).select_from(RequestRow).where(*conds)) or 0
    rows = session.execute(select(RequestRow.id, *listings.REQUEST_SUMMARY_COLUMNS).where(*conds)
                           .order_by(RequestRow.id.desc()).limit(limit).offset(offset)).all()
    ids = [r.id for r in rows]
    wfs = {w.request_id: w for w in session.execute(
        select(WorkflowRow.id, WorkflowRow.request_id, WorkflowRow.current_round, WorkflowRow.input_dataset,
               WorkflowRow.events_produced, WorkflowRow.current_dag_id, WorkflowRow.status)
        .where(WorkflowRow.request_id.in_(ids)))} if ids else {}
    progress = _progress(session, wfs)
    alerts = _latest_alerts(session, [r.name for r in rows])
    items = []
    for r in rows:
        item = {"name": r.name, "status": str(r.status), "priority": r.priority, "urgent": r.urgent,
                "request_type": r.request_type, "requestor": r.requestor, "campaign": r.campaign,
                "created_at": _iso(r.created_at), "updated_at": _iso(r.updated_at), "alert": alerts.get(r.name)}
        wf = wfs.get(r.id)
        item.update(progress.get(wf.id, {}) if wf is not None else {})
        items.append(item)
    _eta(items, progress, wfs, rows, now)
    return listings.page_of(items, total, limit, offset)


def status_done(status: str) -> bool:
    return status in (RequestStatus.completed, RequestStatus.failed, RequestStatus.aborted)


def _progress(session: Session, wfs: dict[int, Any]) -> dict[int, dict[str, Any]]:
    """Per workflow id: done/total (events or input files), round, current DAG's WUs and failure rate."""
    if not wfs:
        return {}
    wf_ids = [w.id for w in wfs.values()]
    totals = _generation_totals(session, [w.request_id for w in wfs.values() if w.input_dataset is None])
    files: dict[int, Counter[str]] = {}
    input_ids = [w.id for w in wfs.values() if w.input_dataset is not None]
    if input_ids:
        for wf_id, state, n in session.execute(
                select(InputFileRow.workflow_id, InputFileRow.state, func.count(InputFileRow.id))
                .where(InputFileRow.workflow_id.in_(input_ids))
                .group_by(InputFileRow.workflow_id, InputFileRow.state)):
            files.setdefault(wf_id, Counter())[str(state)] += n
    dag_ids = [w.current_dag_id for w in wfs.values() if w.current_dag_id is not None]
    dags = {d.id: d for d in session.execute(
        select(DagRow.id, DagRow.round, DagRow.status, DagRow.total_work_units, DagRow.node_counters)
        .where(DagRow.id.in_(dag_ids)))} if dag_ids else {}
    started = dict(session.execute(select(DagRow.workflow_id, func.min(DagRow.submitted_at))
                                   .where(DagRow.workflow_id.in_(wf_ids)).group_by(DagRow.workflow_id)).all())
    out: dict[int, dict[str, Any]] = {}
    for w in wfs.values():
        if w.input_dataset is None:
            done, total, unit = int(w.events_produced), totals.get(w.request_id, 0), "events"
        else:
            counts = files.get(w.id, Counter())
            done, total, unit = counts.get(InputFileState.processed.value, 0), sum(counts.values()), "files"
        if str(w.status) == "completed" and total:
            done = max(done, total)
        dag = dags.get(w.current_dag_id) if w.current_dag_id is not None else None
        counters = dag.node_counters if dag is not None else {}
        ok, failed = int(counters.get("done", 0)), int(counters.get("failed", 0))
        out[w.id] = {
            "round": w.current_round, "done": done, "total": total, "unit": unit,
            "progress_percent": round(100.0 * min(1.0, done / total), 2) if total else 0.0,
            "dag_id": dag.id if dag is not None else None,
            "dag_status": str(dag.status) if dag is not None else None,
            "work_units": dag.total_work_units if dag is not None else 0,
            "work_units_done": int(counters.get("wu_done", 0)),
            "failure_rate": round(failed / (ok + failed), 4) if ok + failed else None,
            "started_at": started.get(w.id),
        }
    return out


def _generation_totals(session: Session, request_ids: list[int]) -> dict[int, int]:
    """``RequestNumEvents`` of generation requests (read from the stored spec of the shown rows only)."""
    if not request_ids:
        return {}
    out = {}
    for rid, spec in session.execute(select(RequestRow.id, RequestRow.spec).where(RequestRow.id.in_(request_ids))):
        splitting = spec.get("splitting", {}) if isinstance(spec, dict) else {}
        out[rid] = int(splitting.get("request_num_events") or 0)
    return out


def _latest_alerts(session: Session, names: list[str]) -> dict[str, dict[str, str]]:
    if not names:
        return {}
    out: dict[str, dict[str, str]] = {}
    for name, kind, reason in session.execute(
            select(AlertRow.request_name, AlertRow.kind, AlertRow.reason)
            .where(AlertRow.request_name.in_(names), AlertRow.acknowledged_at.is_(None)).order_by(AlertRow.id)):
        out[name] = {"kind": kind, "reason": reason}  # the newest wins
    return out


def _eta(items: list[dict[str, Any]], progress: dict[int, dict[str, Any]], wfs: dict[int, Any], rows: Any,
         now: datetime) -> None:
    """ETA = remaining fraction / measured rate since the first DAG submission (as /workflows/{id}/status)."""
    for item, r in zip(items, rows, strict=True):
        wf = wfs.get(r.id)
        data = progress.get(wf.id) if wf is not None else None
        started = data.pop("started_at", None) if data else None
        item.pop("started_at", None)
        item.setdefault("eta_seconds", None)
        item["throughput_per_hour"] = None
        if data is None or started is None or status_done(item["status"]) or not data["total"]:
            continue
        fraction = min(1.0, data["done"] / data["total"])
        elapsed = (now - started).total_seconds()
        if fraction <= 0 or elapsed <= 0:
            continue
        rate = fraction / elapsed
        item["throughput_per_hour"] = round(100.0 * rate * SECONDS_PER_HOUR, 3)
        item["eta_seconds"] = round((1.0 - fraction) / rate, 1)


def dag_grid(submit_dir: Path) -> dict[str, Any]:
    """The outer node status file as one compact grid: per WU its state code and retries."""
    status = try_read_status_file(submit_dir / OUTER_STATUS)
    if status is None:
        return {"available": False, "dag_status": None, "counts": {}, "work_units": []}
    states = Counter(NodeStatus(n.status).name.lower() if n.status in NodeStatus._value2member_map_
                     else "unknown" for n in status.nodes)
    return {
        "available": True,
        "dag_status": NodeStatus(status.dag_status).name.lower()
        if status.dag_status in NodeStatus._value2member_map_ else "unknown",
        "counts": dict(states),
        "work_units": [{"node": n.node, "status": n.status, "retries": n.retry_count} for n in status.nodes],
    }


def errors_over_time(submit_dirs: list[Path]) -> dict[str, Any]:
    """Final failures per time bucket (POST side file timestamps), for the request page's chart."""
    stamps: list[float] = []
    for submit_dir in submit_dirs:
        for _, result in iter_post_results(submit_dir, final_only=True):
            if result.classification.category != "success":
                stamps.append(result.timestamp)
    if not stamps:
        return {"bucket_seconds": 0, "buckets": []}
    lo, hi = min(stamps), max(stamps)
    width = next((w for w in BUCKET_CHOICES_S if (hi - lo) / w < MAX_BUCKETS), BUCKET_CHOICES_S[-1])
    counts = Counter(int(s // width) * width for s in stamps)
    start, end = int(lo // width) * width, int(hi // width) * width
    buckets = [{"at": datetime.fromtimestamp(t).astimezone().isoformat(), "failures": counts.get(t, 0)}
               for t in range(start, end + width, width)]
    return {"bucket_seconds": width, "buckets": buckets}
