"""Operator actions on one DAG by id (``POST /dags/{id}/remove|rescue``, design §10).

* **remove**: the DAGMan job of a live DAG is removed through the engine (DAGMan writes its rescue
  file).  The statuses are left to the Lifecycle Manager (invariant 4): its DAG monitor sees the job
  gone, the DAG ends ``partial`` ("removed outside a clean stop") and the Error Handler rescues or holds
  the request as for any failed round.  Use ``stop`` for a pause that resumes on its own.
* **rescue**: for the current DAG of a request that ended ``partial`` (or ``stopped``), force the
  Error Handler's rescue path even when it held the request (too many rescues, permanent failures):
  a ``ready`` rescue record (kind ``operator``, not counted against ``max_failure_rescues``) becomes the
  workflow's current DAG with the site bans in force applied, and the request moves on so admission
  resubmits it: ``partial`` → ``resubmitting``; ``held`` → ``queued`` (the transition table has no
  ``held`` → ``resubmitting``; ``resubmitting`` would only lead to ``queued`` anyway).

Every call records who and why (DAG history, and the request's audit trail).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from wms2.core.actions import Conflict, EngineUnavailable, NotFound
from wms2.core.recovery import apply_bans_to_landing, new_rescue_record, reelect_banned
from wms2.core.site_bans import banned_sites
from wms2.core.transitions import transition, transition_dag, transition_workflow
from wms2.db.tables import DagHistoryRow, DagRow, RequestRow, WorkflowRow
from wms2.domain.enums import DAGStatus, RequestStatus, WorkflowStatus
from wms2.engines.base import Engine, EngineError, JobUnknown

log = logging.getLogger(__name__)

LIVE = (DAGStatus.submitted, DAGStatus.running, DAGStatus.halted)
RESCUABLE = (DAGStatus.partial, DAGStatus.stopped)
OPERATOR_RESCUE = "operator"  # DagRow.rescue_kind of a rescue forced through the API


def _current(session: Session, dag_id: int) -> tuple[DagRow, WorkflowRow, RequestRow]:
    dag = session.get(DagRow, dag_id)
    if dag is None:
        raise NotFound("DAG", dag_id)
    wf = session.get(WorkflowRow, dag.workflow_id)
    request = session.get(RequestRow, wf.request_id) if wf is not None else None
    if wf is None or request is None:
        raise NotFound("workflow of DAG", dag_id)
    if wf.current_dag_id != dag.id:
        raise Conflict(f"DAG {dag_id} is not the current DAG of request {request.name} (that is {wf.current_dag_id})")
    return dag, wf, request


def _audit(request: RequestRow, by: str, reason: str, now: datetime) -> None:
    status = str(request.status)
    request.status_transitions = [*request.status_transitions,
                                  {"from": status, "to": status, "at": now.isoformat(), "by": by, "reason": reason}]


def remove_dag(session: Session, dag_id: int, by: str, reason: str, engine: Engine, now: datetime) -> DagRow:
    """Remove a live DAG's DAGMan job; the lifecycle then handles the round as failed (see module doc)."""
    dag, _wf, request = _current(session, dag_id)
    if DAGStatus(dag.status) not in LIVE or dag.cluster_id is None or not dag.schedd_name:
        raise Conflict(f"DAG {dag_id} is {dag.status}: only a submitted, running or halted DAG can be removed")
    try:
        engine.remove(dag.cluster_id, dag.schedd_name, f"WMS2 remove by {by}: {reason}")
    except JobUnknown:
        log.info("DAG %s: DAGMan job %s already gone", dag.id, dag.cluster_id)
    except EngineError as exc:
        raise EngineUnavailable(f"DAG {dag_id}: cannot remove DAGMan job {dag.cluster_id} on {dag.schedd_name}:"
                                f" {exc}") from exc
    session.add(DagHistoryRow(dag_id=dag.id, event="remove_requested", detail={"by": by, "reason": reason}))
    _audit(request, by, f"DAG {dag.id} removed: {reason}", now)
    session.flush()
    return dag


def rescue_dag(session: Session, dag_id: int, by: str, reason: str, now: datetime) -> DagRow:
    """Force a rescue of the request's current DAG; return the new ``ready`` rescue record."""
    dag, wf, request = _current(session, dag_id)
    if DAGStatus(dag.status) not in RESCUABLE:
        raise Conflict(f"DAG {dag_id} is {dag.status}: only a partial or stopped DAG can be rescued")
    status = RequestStatus(request.status)
    if status not in (RequestStatus.partial, RequestStatus.held):
        raise Conflict(f"request {request.name} is {status}: a forced rescue needs it partial or held")
    if DAGStatus(dag.status) == DAGStatus.partial:
        transition_dag(session, dag, DAGStatus.failed, f"rescue forced by {by}: {reason}")
    new = new_rescue_record(session, wf, dag, OPERATOR_RESCUE)
    session.add(DagHistoryRow(dag_id=dag.id, event="rescue_forced", detail={"by": by, "reason": reason,
                                                                             "rescue": new.id}))
    banned = banned_sites(session, wf.id, now)
    done = set(new.completed_work_units)
    apply_bans_to_landing(Path(new.submit_dir), banned, skip=done)
    reelect_banned(Path(new.submit_dir), banned, skip=done)
    why = f"rescue DAG {new.id} forced: {reason}"
    if status == RequestStatus.partial:
        transition_workflow(wf, WorkflowStatus.resubmitting)
        transition(request, RequestStatus.resubmitting, by, why, now)
    else:
        transition_workflow(wf, WorkflowStatus.new)
        transition(request, RequestStatus.queued, by, why, now)
    session.flush()
    return new
