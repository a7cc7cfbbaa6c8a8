"""Operator actions on requests and DAGs (design §6.3-6.6).

Each action states who and why, goes through :func:`transition` (audit trail), and is refused with a
clear :class:`ActionRefused` from a status where it makes no sense.  Engine calls happen here (the
operator asked for them); the status bookkeeping stays on the Lifecycle Manager's transition table.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wms2.config import Settings
from wms2.core.active import workflow_of
from wms2.core.output_manager import OutputManager
from wms2.core.rounds import close_round_blocks, finish_round
from wms2.core.transitions import transition, transition_dag, transition_workflow
from wms2.core.workflow_manager import submit_documents
from wms2.db.tables import DagRow, ProcessingBlockRow, RequestRow
from wms2.domain.enums import BlockStatus, CleanupPolicy, DAGStatus, RequestStatus, WorkflowStatus
from wms2.engines.base import Engine, EngineError, JobUnknown

log = logging.getLogger(__name__)

LIVE_DAG = (DAGStatus.submitted, DAGStatus.running, DAGStatus.halted)


class ActionRefused(ValueError):
    """The action makes no sense in the request's (or DAG's) current status."""


@dataclass(frozen=True)
class ReleaseOverrides:
    memory_mb: int | None = None
    max_retries: int | None = None
    site_bans: list[str] = field(default_factory=list)
    excluded_files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, [])}


def get_request(session: Session, name: str) -> RequestRow:
    row = session.scalar(select(RequestRow).where(RequestRow.name == name))
    if row is None:
        raise KeyError(f"no request named {name!r}")
    return row


def _require(row: RequestRow, allowed: tuple[RequestStatus, ...], action: str) -> None:
    if RequestStatus(row.status) not in allowed:
        raise ActionRefused(f"cannot {action} request {row.name}: it is {row.status}"
                            f" (allowed from {', '.join(s.value for s in allowed)})")


def _current_dag(session: Session, row: RequestRow) -> DagRow | None:
    wf = workflow_of(session, row)
    return session.get(DagRow, wf.current_dag_id) if wf.current_dag_id else None


def _remove_live_dag(session: Session, engine: Engine, dag: DagRow | None, reason: str) -> bool:
    if dag is None or DAGStatus(dag.status) not in LIVE_DAG or dag.cluster_id is None or dag.schedd_name is None:
        return False
    try:
        engine.remove(dag.cluster_id, dag.schedd_name, reason)
    except JobUnknown:
        log.info("DAG %s was already gone from %s", dag.id, dag.schedd_name)
    return True


class Operator:
    def __init__(self, settings: Settings, engine: Engine, outputs: OutputManager) -> None:
        self.settings = settings
        self.engine = engine
        self.outputs = outputs

    # -- clean stop (§6.3) -------------------------------------------------------------------------
    def stop(self, session: Session, name: str, by: str, reason: str, now: datetime) -> RequestRow:
        row = get_request(session, name)
        _require(row, (RequestStatus.active,), "stop")
        dag = _current_dag(session, row)
        if dag is None or DAGStatus(dag.status) not in LIVE_DAG:
            raise ActionRefused(f"request {name} has no running DAG to stop")
        dag.stop_requested_at, dag.stop_reason = now, reason
        self.engine.remove(dag.cluster_id or 0, dag.schedd_name or "", f"WMS2 clean stop by {by}: {reason}")
        transition_workflow(workflow_of(session, row), WorkflowStatus.stopping)
        transition(row, RequestStatus.stopping, by, f"clean stop: {reason}", now)
        return row

    # -- held: release / fail (§6.5) ---------------------------------------------------------------
    def release(self, session: Session, name: str, by: str, reason: str, now: datetime,
                overrides: ReleaseOverrides | None = None) -> RequestRow:
        row = get_request(session, name)
        _require(row, (RequestStatus.held,), "release")
        wf = workflow_of(session, row)
        dag = _current_dag(session, row)
        if dag is not None and DAGStatus(dag.status) == DAGStatus.partial:
            # Credit what the failed round completed: metrics, offsets and file states advance.
            finish_round(session, row, wf, dag, now)
            close_round_blocks(session, wf, dag)
            transition_dag(session, dag, DAGStatus.failed, f"released by {by}: completed WUs credited")
        if overrides is not None and overrides.as_dict():
            row.overrides = {**row.overrides, **overrides.as_dict()}
        transition_workflow(wf, WorkflowStatus.new)
        transition(row, RequestStatus.queued, by, f"released: {reason}", now)
        return row

    def fail(self, session: Session, name: str, by: str, reason: str, now: datetime) -> dict[str, Any]:
        row = get_request(session, name)
        allowed = (RequestStatus.held, RequestStatus.queued, RequestStatus.active, RequestStatus.partial,
                   RequestStatus.stopping, RequestStatus.resubmitting, RequestStatus.planning)
        _require(row, allowed, "fail")
        wf = workflow_of(session, row)
        dag = _current_dag(session, row)
        removed = _remove_live_dag(session, self.engine, dag, f"WMS2 fail by {by}: {reason}")
        if dag is not None and DAGStatus(dag.status) in (*LIVE_DAG, DAGStatus.ready, DAGStatus.partial):
            end = DAGStatus.removed if removed else DAGStatus.failed
            transition_dag(session, dag, end, f"request failed: {reason}")
        failed_blocks = 0
        for block in session.scalars(select(ProcessingBlockRow).where(
                ProcessingBlockRow.workflow_id == wf.id, ProcessingBlockRow.status == BlockStatus.open)):
            block.status = BlockStatus.failed
            failed_blocks += 1
        produced = {"events_produced": wf.events_produced, "rounds": wf.current_round,
                    "blocks_failed": failed_blocks, "dag_removed": removed}
        transition_workflow(wf, WorkflowStatus.failed)
        transition(row, RequestStatus.failed, by, f"failed by operator: {reason}; produced {produced}", now)
        return produced

    def abort(self, session: Session, name: str, by: str, reason: str, now: datetime) -> RequestRow:
        """Requestor cancel: one implementation, shared with the API (:func:`wms2.core.actions.abort`)."""
        from wms2.core.actions import Conflict, abort

        try:
            return abort(session, name, by, reason, engine=lambda: self.engine, now=now)
        except Conflict as exc:
            raise ActionRefused(str(exc)) from None

    # -- DAG hold / release (pause without losing the queue slot) ---------------------------------
    def hold_dag(self, session: Session, name: str, by: str, reason: str) -> DagRow:
        row = get_request(session, name)
        _require(row, (RequestStatus.active,), "hold the DAG of")
        dag = _current_dag(session, row)
        if dag is None or DAGStatus(dag.status) not in (DAGStatus.submitted, DAGStatus.running):
            raise ActionRefused(f"request {name} has no running DAG to hold")
        self.engine.hold(dag.cluster_id or 0, dag.schedd_name or "", f"WMS2 hold by {by}: {reason}")
        transition_dag(session, dag, DAGStatus.halted, f"held by {by}: {reason}")
        return dag

    def release_dag(self, session: Session, name: str, by: str) -> DagRow:
        row = get_request(session, name)
        dag = _current_dag(session, row)
        if dag is None or DAGStatus(dag.status) != DAGStatus.halted:
            raise ActionRefused(f"request {name} has no held DAG to release")
        self.engine.release(dag.cluster_id or 0, dag.schedd_name or "")
        transition_dag(session, dag, DAGStatus.running, f"released by {by}")
        return dag

    # -- catastrophic recovery (§6.6) -------------------------------------------------------------
    def restart(self, session: Session, name: str, by: str, reason: str, now: datetime,
                cleanup_policy: CleanupPolicy) -> str:
        row = get_request(session, name)
        allowed = (RequestStatus.held, RequestStatus.active, RequestStatus.partial, RequestStatus.queued,
                   RequestStatus.stopping, RequestStatus.failed, RequestStatus.completed)
        _require(row, allowed, "restart")
        if row.superseded_by_request:
            raise ActionRefused(f"request {name} was already restarted as {row.superseded_by_request}")
        doc = copy.deepcopy(row.document)
        flat = doc.get("createRequest", doc)
        version = row.processing_version + 1
        new_name = f"{_base_name(row.name)}_v{version}"
        flat.update(RequestName=new_name, ProcessingVersion=version, WMS2CleanupPolicy=cleanup_policy.value)
        if "assignRequest" in doc:
            doc["assignRequest"]["ProcessingVersion"] = version
        # A completed request stays completed (its outputs are superseded, not failed).
        if RequestStatus(row.status) not in (RequestStatus.failed, RequestStatus.completed):
            try:
                self.fail(session, name, by, f"superseded by {new_name} (catastrophic recovery): {reason}", now)
            except EngineError as exc:  # the schedd may be gone for good: that is why we restart
                log.warning("restart of %s: could not remove the DAG: %s", name, exc)
                wf = workflow_of(session, row)
                transition_workflow(wf, WorkflowStatus.failed)
                transition(row, RequestStatus.failed, by, f"superseded by {new_name}: {reason} ({exc})", now)
        submit_documents(session, [(new_name, doc)], self.settings, by=by, requestor=row.requestor)
        new = get_request(session, new_name)
        new.previous_version_request = row.name
        new.cleanup_policy = cleanup_policy
        row.superseded_by_request = new_name
        row.cleanup_policy = cleanup_policy
        return new_name


def _base_name(name: str) -> str:
    head, sep, tail = name.rpartition("_v")
    return head if sep and tail.isdigit() else name


def versions(session: Session, name: str) -> list[dict[str, Any]]:
    """The whole version chain of a request, oldest first."""
    row = get_request(session, name)
    while row.previous_version_request:
        row = get_request(session, row.previous_version_request)
    chain = []
    while True:
        chain.append({"name": row.name, "processing_version": row.processing_version, "status": str(row.status),
                      "cleanup_policy": str(row.cleanup_policy), "previous": row.previous_version_request,
                      "superseded_by": row.superseded_by_request})
        if not row.superseded_by_request:
            return chain
        row = get_request(session, row.superseded_by_request)
