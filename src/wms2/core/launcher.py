"""The round launcher: what the ``queued`` (and ``planning``) handler calls once a request is admitted.

Two phases, each committed, so that a crash anywhere never submits a DAG twice nor loses one:
1. plan and write the round directory, then record the DAG (``ready``), its blocks and the advanced
   offsets in one transaction (a crash before the commit leaves only an unsubmitted directory, which
   a re-plan replaces);
2. submit the DAG file and record the cluster id.  A ``ready`` DAG found on entry (a rescue, a stop
   resume, or a crash after phase 1) is submitted without planning.  Each DAG row's submission carries
   a unique batch name, and the engine is asked for it first: a submission whose commit was lost (the
   owner killed, the database gone, between the two) is adopted, not repeated, whether it still runs
   or has already ended.  The engine also refuses a second DAGMan on a DAG file while one runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wms2.core.active import all_blocks_archived
from wms2.core.output_manager import OutputManager
from wms2.core.transitions import transition_dag
from wms2.core.workers import HandlerContext, LaunchOutcome, LaunchResult
from wms2.db.base import utcnow
from wms2.db.tables import DagHistoryRow, DagRow, ProcessingBlockRow, RequestRow, WorkflowRow
from wms2.domain.enums import BlockStatus, DAGStatus
from wms2.engines.base import Engine, ScheddsFull, ScheddUnreachable, SubmitOptions
from wms2.planning.render.writer import RoundAlreadySubmitted
from wms2.planning.round import PlanningError
from wms2.planning.service import PreparedRound, prepare_round

log = logging.getLogger(__name__)


def submission_name(request_name: str, dag: DagRow) -> str:
    """The DAGMan job's batch name: unique per DAG row (a rescue or a resumed round is a new row)."""
    return f"{request_name}-r{dag.round}-d{dag.id}"


def lost_round_reason(request_name: str, submit_dir: Path) -> str:
    """Why a request whose round directory an engine ran, with no DAG row for it, is held.

    Phase 1 commits the DAG row before the submission, so this happens only when the database lost a
    transaction it had reported committed (e.g. an asynchronous replica promoted after a crash).  Planning
    again would write the round over files DAGMan may still be using, and submitting again could run the
    round twice: an operator looks first."""
    return (f"round directory {submit_dir} was already submitted to an engine, but the database has no DAG "
            f"for it (a lost commit?): its DAG may still run (batch name {request_name}-r<round>-d<id>; see "
            f"`wms2 dag status`). Remove that DAG if it runs, move the directory aside, then release; "
            f"or fail the request")


@dataclass
class PlanningLauncher:
    engine: Engine
    catalog: Callable[[Session], Any]
    outputs: OutputManager

    def launch(self, ctx: HandlerContext, request: RequestRow, workflow: WorkflowRow) -> LaunchResult:
        session = ctx.session
        dag = session.get(DagRow, workflow.current_dag_id) if workflow.current_dag_id else None
        if dag is None or dag.status != DAGStatus.ready:
            try:
                prepared = prepare_round(session, request, workflow, ctx.settings, self.catalog(session))
            except RoundAlreadySubmitted as exc:
                return LaunchResult(LaunchOutcome.held, lost_round_reason(request.name, exc.path))
            except PlanningError as exc:
                return LaunchResult(LaunchOutcome.deferred, f"planning failed: {exc}")
            if not prepared.has_work:
                return self._nothing_to_plan(ctx, workflow, prepared)
            dag = self._record_round(session, workflow, prepared)
            ctx.commit()
        return self._submit(ctx, request, dag)

    def _nothing_to_plan(self, ctx: HandlerContext, workflow: WorkflowRow, prepared: PreparedRound) -> LaunchResult:
        if prepared.plan.work_remaining:
            return LaunchResult(LaunchOutcome.deferred, "work remains but none can be placed now")
        self.outputs.finish_blocks(ctx.session, workflow, ctx.now)
        if not all_blocks_archived(ctx.session, workflow):
            return LaunchResult(LaunchOutcome.deferred, "all work done; waiting for blocks to be archived",
                                expected_wait=True)
        return LaunchResult(LaunchOutcome.no_work_left, "no work left and every block archived")

    def _record_round(self, session: Session, workflow: WorkflowRow, prepared: PreparedRound) -> DagRow:
        plan = prepared.plan
        assert prepared.dag_file is not None and prepared.submit_dir is not None
        params = {**prepared.round_params, "work_remaining": plan.work_remaining, "events": plan.events,
                  "first_event": plan.first_event, "last_event": plan.last_event, "files": len(plan.files),
                  "jobs": len(plan.jobs), "allowed_sites": list(plan.allowed_sites),
                  "denied_sites": list(plan.denied_sites)}
        dag = DagRow(workflow_id=workflow.id, round=plan.round, dag_file=str(prepared.dag_file),
                     submit_dir=str(prepared.submit_dir), total_nodes=plan.total_nodes,
                     total_edges=plan.total_edges, nodes_by_role=plan.nodes_by_role,
                     total_work_units=len(plan.work_units), round_params=params, status=DAGStatus.ready)
        session.add(dag)
        session.flush()
        session.add(DagHistoryRow(dag_id=dag.id, event="planned", detail=prepared.summary()))
        existing = set(session.scalars(select(ProcessingBlockRow.dataset).where(
            ProcessingBlockRow.workflow_id == workflow.id, ProcessingBlockRow.round == plan.round)))
        for block in plan.blocks:
            if block.dataset in existing:
                continue
            session.add(ProcessingBlockRow(workflow_id=workflow.id, dag_id=dag.id, round=plan.round,
                                           block_index=block.index, dataset=block.dataset,
                                           total_work_units=len(block.work_units), status=BlockStatus.open))
        if plan.next_first_event is not None:
            workflow.next_first_event = plan.next_first_event
        if plan.next_lumi is not None:
            workflow.next_lumi = plan.next_lumi
        workflow.events_planned += plan.events
        workflow.current_round = plan.round
        workflow.current_dag_id = dag.id
        return dag

    def _submit(self, ctx: HandlerContext, request: RequestRow, dag: DagRow) -> LaunchResult:
        # One batch name per DAG row: a submission whose commit was lost is found, not repeated.
        options = SubmitOptions(batch_name=submission_name(request.name, dag))
        try:
            earlier = self.engine.find_submitted(options.batch_name or "")
        except ScheddUnreachable as exc:  # it may have been submitted there: never risk a second DAGMan
            return LaunchResult(LaunchOutcome.deferred, f"DAG {dag.id} ready, not submitted: {exc}", dag.id)
        if earlier is not None:
            log.warning("%s: DAG %s was already submitted as %s on %s (its commit was lost): adopted",
                        request.name, dag.id, earlier.cluster_id, earlier.schedd)
        try:
            result = earlier or self.engine.submit_dag(Path(dag.dag_file), options)
        except ScheddsFull as exc:  # back-pressure, not a fault: the ready DAG is submitted by a later cycle
            return LaunchResult(LaunchOutcome.deferred, f"DAG {dag.id} ready, not submitted: {exc}", dag.id,
                                expected_wait=True)
        dag.cluster_id, dag.schedd_name, dag.submitted_at = result.cluster_id, result.schedd, utcnow()
        how = "found already submitted" if earlier else "submitted"
        transition_dag(ctx.session, dag, DAGStatus.submitted, f"{how} as {result.cluster_id} on {result.schedd}")
        kind = f" ({dag.rescue_kind} rescue)" if dag.rescue_kind else ""
        return LaunchResult(LaunchOutcome.submitted,
                            f"round {dag.round} DAG {dag.id}{kind} submitted: {dag.total_work_units} WUs,"
                            f" {dag.total_nodes} nodes, cluster {result.cluster_id}", dag.id)
