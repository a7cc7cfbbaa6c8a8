"""The ``active`` handler (design §6.1): poll the DAG, hand new WUs to the Output Manager, end rounds."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from wms2.core.alerts import raise_alert
from wms2.core.monitor import DagMonitor, DagPoll
from wms2.core.output_manager import OutputManager
from wms2.core.rounds import apply_production_steps, finish_round, running_fraction
from wms2.core.transitions import SYSTEM, transition, transition_dag, transition_workflow
from wms2.core.workers import HandlerContext
from wms2.core.wu_records import store_completed
from wms2.db.tables import DagHistoryRow, DagRow, ProcessingBlockRow, RequestRow, WorkflowRow
from wms2.domain.enums import BlockStatus, CleanupPolicy, DAGStatus, RequestStatus, WorkflowStatus
from wms2.engines.base import DagJobState, ScheddUnreachable

log = logging.getLogger(__name__)


def workflow_of(session: Session, request: RequestRow) -> WorkflowRow:
    wf = session.scalar(select(WorkflowRow).where(WorkflowRow.request_id == request.id))
    if wf is None:
        raise RuntimeError(f"request {request.name} has no workflow")
    return wf


def workflow_and_dag(session: Session, request: RequestRow) -> tuple[WorkflowRow, DagRow | None]:
    """The request's workflow and its current DAG in one query (every active request, every cycle)."""
    row = session.execute(select(WorkflowRow, DagRow).outerjoin(DagRow, DagRow.id == WorkflowRow.current_dag_id)
                          .where(WorkflowRow.request_id == request.id)).first()
    if row is None:
        raise RuntimeError(f"request {request.name} has no workflow")
    return row[0], row[1]


def all_blocks_archived(session: Session, workflow: WorkflowRow) -> bool:
    statuses = set(session.scalars(select(ProcessingBlockRow.status)
                                   .where(ProcessingBlockRow.workflow_id == workflow.id)))
    return statuses <= {BlockStatus.archived, BlockStatus.invalidated}


def invalidate_superseded(session: Session, outputs: OutputManager, request: RequestRow) -> int:
    """When a new version completes: ``immediate_cleanup`` invalidates the old version's outputs;
    ``keep_until_replaced`` leaves them to the operator."""
    if not request.previous_version_request or request.cleanup_policy != CleanupPolicy.immediate_cleanup:
        return 0
    old = session.scalar(select(RequestRow).where(RequestRow.name == request.previous_version_request))
    if old is None:
        return 0
    return outputs.invalidate(session, workflow_of(session, old))


@dataclass
class ActiveHandler:
    monitor: DagMonitor
    outputs: OutputManager

    def __call__(self, ctx: HandlerContext, request: RequestRow) -> None:
        session = ctx.session
        workflow, dag = workflow_and_dag(session, request)
        if dag is None:
            raise RuntimeError(f"request {request.name} is active without a current DAG")
        if dag.status in (DAGStatus.submitted, DAGStatus.running, DAGStatus.halted):
            try:
                poll = self._poll(session, dag)
            except ScheddUnreachable as exc:
                # Never an automatic recovery: the request stays active, the DAG as it is; an alert says
                # why (repeated at most every alert_repeat_seconds), and stuck detection still applies.
                log.warning("%s: schedd unreachable while polling DAG %s: %s", request.name, dag.id, exc)
                raise_alert(session, kind="schedd_unreachable", now=ctx.now, request_name=request.name,
                            status=request.status, detail={"dag_id": dag.id, "schedd": dag.schedd_name},
                            repeat_after_s=ctx.settings.lifecycle.alert_repeat_seconds,
                            reason=f"schedd {dag.schedd_name} unreachable while polling DAG {dag.id}: {exc};"
                                   " no automatic action taken (if the schedd is lost for good: operator"
                                   " restart, catastrophic recovery)")
                return
            self._record_poll(session, workflow, dag, poll)
            if not poll.finished and self._production_step_stop(ctx, request, workflow, dag):
                return
            self.outputs.collect(session, workflow, dag, ctx.now)
            if not poll.finished:
                return
            self._dag_ended(ctx, request, workflow, dag, poll)
            if dag.status != DAGStatus.completed:
                return
        elif dag.status == DAGStatus.completed:
            self.outputs.collect(session, workflow, dag, ctx.now)
        else:
            return
        self._after_success(ctx, request, workflow, dag)

    def _production_step_stop(self, ctx: HandlerContext, request: RequestRow, workflow: WorkflowRow,
                              dag: DagRow) -> bool:
        """Non-adaptive requests: reaching a production step's fraction triggers a clean stop; the
        request resumes from the rescue DAG at the step's (lower) priority (design §6.4)."""
        if request.adaptive or not request.production_steps or dag.stop_requested_at is not None:
            return False
        fraction = running_fraction(ctx.session, request, workflow, dag)
        if fraction < float(request.production_steps[0]["fraction"]):
            return False
        apply_production_steps(ctx.session, request, workflow, ctx.now, fraction=fraction)
        reason = f"production step reached ({fraction:.0%} done): resume at priority {request.priority}"
        dag.stop_requested_at, dag.stop_reason = ctx.now, reason
        self.monitor.engine.remove(dag.cluster_id or 0, dag.schedd_name or "", f"WMS2: {reason}")
        transition_workflow(workflow, WorkflowStatus.stopping)
        transition(request, RequestStatus.stopping, SYSTEM, reason, ctx.now)
        return True

    def _poll(self, session: Session, dag: DagRow) -> DagPoll:
        return self.monitor.poll(Path(dag.submit_dir), dag.cluster_id, dag.schedd_name, dag.total_work_units,
                                 set(dag.completed_work_units))

    def _record_poll(self, session: Session, workflow: WorkflowRow, dag: DagRow, poll: DagPoll) -> None:
        store_completed(session, dag, poll.newly_completed)
        counters = {**{f"wu_{k}": v for k, v in poll.wu_counts.items()}, **poll.node_counts}
        if counters != dag.node_counters:
            session.add(DagHistoryRow(dag_id=dag.id, event="poll", detail={"counters": counters,
                                                                            "by_role": poll.by_role}))
        dag.node_counters = counters
        workflow.node_counters = counters
        if poll.unreadable:
            log.warning("DAG %s: completed WUs without readable outputs: %s", dag.id, poll.unreadable)
        if dag.status == DAGStatus.submitted and poll.engine_state == DagJobState.running:
            transition_dag(session, dag, DAGStatus.running, "DAGMan job running")
        elif dag.status == DAGStatus.running and poll.engine_state == DagJobState.held:
            transition_dag(session, dag, DAGStatus.halted, "DAGMan job held")
        elif dag.status == DAGStatus.halted and poll.engine_state == DagJobState.running:
            transition_dag(session, dag, DAGStatus.running, "DAGMan job released")

    def _dag_ended(self, ctx: HandlerContext, request: RequestRow, workflow: WorkflowRow, dag: DagRow,
                   poll: DagPoll) -> None:
        session = ctx.session
        detail = {"exit_code": poll.exit_code, "failed_work_units": poll.failed_work_units,
                  "unreadable": poll.unreadable, "detail": poll.detail}
        session.add(DagHistoryRow(dag_id=dag.id, event="exit", detail=detail))
        if poll.succeeded and not poll.unreadable:
            transition_dag(session, dag, DAGStatus.completed, "DAG succeeded")
            finish_round(session, request, workflow, dag, ctx.now)
            return
        dag.round_metrics = {**dag.round_metrics, "failed_work_units": poll.failed_work_units,
                             "exit_code": poll.exit_code}
        if poll.removed and dag.stop_requested_at is None:
            reason = f"DAGMan job removed outside WMS2 (exit {poll.exit_code}): {poll.detail}"
        else:
            reason = (f"DAG ended with {len(poll.failed_work_units)} failed work unit(s)"
                      f" of {dag.total_work_units} (exit code {poll.exit_code})")
        transition_dag(session, dag, DAGStatus.partial, reason)
        transition_workflow(workflow, WorkflowStatus.partial)
        transition(request, RequestStatus.partial, SYSTEM, reason, ctx.now)

    def _after_success(self, ctx: HandlerContext, request: RequestRow, workflow: WorkflowRow, dag: DagRow) -> None:
        if dag.round_params.get("work_remaining", False):
            transition_workflow(workflow, WorkflowStatus.new)
            transition(request, RequestStatus.queued, SYSTEM,
                       f"round {dag.round} done ({len(dag.completed_work_units)} WUs); next round queued", ctx.now)
            return
        if all_blocks_archived(ctx.session, workflow):
            invalidated = invalidate_superseded(ctx.session, self.outputs, request)
            if invalidated:
                log.info("%s completed: invalidated %d files of %s", request.name, invalidated,
                         request.previous_version_request)
            transition_workflow(workflow, WorkflowStatus.completed)
            transition(request, RequestStatus.completed, SYSTEM,
                       f"all work done in {dag.round + 1} round(s); every block archived", ctx.now)
