"""The ``active`` handler (design §6.1): poll the DAG, hand new WUs to the Output Manager, end rounds."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Insert, Table, bindparam, exists, or_, select
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.attributes import flag_modified, set_committed_value

from wms2.core.alerts import raise_alert
from wms2.core.monitor import CompletedWorkUnit, DagMonitor, DagPoll, DagRef
from wms2.core.output_manager import UNFINISHED, OutputManager, PendingRecord
from wms2.core.rounds import apply_production_steps, finish_round, running_fraction
from wms2.core.transitions import SYSTEM, transition, transition_dag, transition_workflow
from wms2.core.workers import HandlerContext
from wms2.core.wu_records import RECORD_KEY
from wms2.db.base import utcnow
from wms2.db.tables import DagHistoryRow, DagRow, ProcessingBlockRow, RequestRow, WorkflowRow, WorkUnitRecordRow
from wms2.domain.enums import BlockStatus, CleanupPolicy, DAGStatus, RequestStatus, WorkflowStatus
from wms2.engines.base import DagJobState, ScheddUnreachable
from wms2.services.outputs import dialect_insert, preload_catalog_blocks

log = logging.getLogger(__name__)
# The ReqMgr2 document and the spec (kilobytes of JSON each) are loaded only by the handlers that read
# them (planning, validation): not decoded for every active request every cycle.
DEFERRED_REQUEST_COLUMNS = (defer(RequestRow.document), defer(RequestRow.spec))
PREFETCH_KEY = "wms2.active_prefetch"  # Session.info key of a batch's ActivePrefetch


@dataclass
class ActivePrefetch:
    """What the ``active`` handler reads for every DAG, loaded for a whole batch of requests in one query
    each (``prefetch_active``); every entry is used once, by the first evaluation of its request."""

    requests: list[RequestRow] = field(default_factory=list)  # held here: the identity map is weak
    workflow_dag: dict[int, tuple[WorkflowRow, DagRow | None]] = field(default_factory=dict)  # by request id
    blocks: dict[int, list[ProcessingBlockRow]] = field(default_factory=dict)  # by workflow id, in id order
    pending: dict[int, list[WorkUnitRecordRow]] = field(default_factory=dict)  # by workflow id, current round


def prefetch_active(session: Session, request_ids: Sequence[int]) -> ActivePrefetch:
    """Load the requests, their workflows and current DAGs, their blocks and their unregistered WU records
    for a batch of requests (4 queries instead of 4 per request), and let this session's evaluations use
    them.  Requests that are not ``active`` simply do not use the entries."""
    found = ActivePrefetch()
    found.requests = list(session.scalars(select(RequestRow).options(*DEFERRED_REQUEST_COLUMNS)
                                          .where(RequestRow.id.in_(request_ids))))
    for wf, dag in session.execute(
            select(WorkflowRow, DagRow).outerjoin(DagRow, DagRow.id == WorkflowRow.current_dag_id)
            .where(WorkflowRow.request_id.in_(request_ids))):
        found.workflow_dag[wf.request_id] = (wf, dag)
        found.blocks[wf.id], found.pending[wf.id] = [], []
    if found.blocks:
        current = (select(WorkflowRow.id, DagRow.round).join(DagRow, DagRow.id == WorkflowRow.current_dag_id)
                   .where(WorkflowRow.request_id.in_(request_ids)).subquery())
        for block in session.scalars(
                select(ProcessingBlockRow).join(current, current.c.id == ProcessingBlockRow.workflow_id)
                .where(or_(ProcessingBlockRow.round == current.c.round, ProcessingBlockRow.status.in_(UNFINISHED)))
                .order_by(ProcessingBlockRow.id)):
            found.blocks[block.workflow_id].append(block)
        for row in session.scalars(
                select(WorkUnitRecordRow).join(current, current.c.id == WorkUnitRecordRow.workflow_id)
                .where(WorkUnitRecordRow.round == current.c.round, WorkUnitRecordRow.registered.is_(False))
                .order_by(WorkUnitRecordRow.name)):
            found.pending[row.workflow_id].append(row)
    # the embedded catalog's blocks of the open ones (a no-op cost of one query per batch with DBS)
    preload_catalog_blocks(session, [b.catalog_block_name for blocks in found.blocks.values() for b in blocks
                                     if b.catalog_block_name and b.status == BlockStatus.open])
    session.info[PREFETCH_KEY] = found
    return found


def _prefetched(session: Session) -> ActivePrefetch | None:
    found = session.info.get(PREFETCH_KEY)
    return found if isinstance(found, ActivePrefetch) else None


def workflow_of(session: Session, request: RequestRow) -> WorkflowRow:
    wf = session.scalar(select(WorkflowRow).where(WorkflowRow.request_id == request.id))
    if wf is None:
        raise RuntimeError(f"request {request.name} has no workflow")
    return wf


def workflow_and_dag(session: Session, request: RequestRow) -> tuple[WorkflowRow, DagRow | None]:
    """The request's workflow and its current DAG in one query (every active request, every cycle), or
    none when the batch's prefetch has them."""
    prefetch = _prefetched(session)
    if prefetch is not None:
        pair = prefetch.workflow_dag.pop(request.id, None)
        if pair is not None:
            return pair
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


_RECORDS: Table = WorkUnitRecordRow.__table__  # type: ignore[assignment]
_RECORD_INSERTS: dict[str, Insert] = {}


def _records_insert(dialect: str) -> Insert:
    """``INSERT ... ON CONFLICT (workflow_id, round, name) DO NOTHING RETURNING id, name``: a WU already
    recorded for the round (a rescue DAG of it, a repeated poll) is skipped by the unique key, without a
    look-up first; the ids of the rows inserted are returned."""
    stmt = _RECORD_INSERTS.get(dialect)
    if stmt is None:
        stmt = _RECORD_INSERTS[dialect] = (dialect_insert(_RECORDS, dialect).on_conflict_do_nothing(
            index_elements=RECORD_KEY).returning(_RECORDS.c.id, _RECORDS.c.name))
    return stmt


def record_completed(session: Session, dag: DagRow, completed: Iterable[CompletedWorkUnit]) -> list[PendingRecord]:
    """Record newly completed WUs (idempotent) in one multi-row INSERT on the session's connection (a Core
    statement: no ORM objects, no ORM bulk path); the light ``{WU: {site}}`` entry goes on the DAG row,
    written by the poll's one UPDATE of the row.  Returns the WUs inserted now, pending registration."""
    completed = list(completed)
    if not completed:
        return []
    now = utcnow()
    records = {wu.name: wu.as_record() for wu in completed}
    conn = session.connection()
    inserted = conn.execute(_records_insert(conn.dialect.name), [
        {"workflow_id": dag.workflow_id, "round": dag.round, "name": wu.name, "site": wu.site, "registered": False,
         "record": records[wu.name], "created_at": now} for wu in completed]).all()
    for wu in completed:
        dag.completed_work_units[wu.name] = {"site": wu.site}
    flag_modified(dag, "completed_work_units")
    return [PendingRecord(record_id, name, records[name]) for record_id, name in inserted]


_HISTORY: Table = DagHistoryRow.__table__  # type: ignore[assignment]
_DAGS: Table = DagRow.__table__  # type: ignore[assignment]
_WORKFLOWS: Table = WorkflowRow.__table__  # type: ignore[assignment]
_INSERT_HISTORY = _HISTORY.insert()
_UPDATE_DAG_COUNTERS = _DAGS.update().where(_DAGS.c.id == bindparam("dag_id")).values(
    node_counters=bindparam("counters"))
_UPDATE_DAG_COUNTERS_AND_DONE = _UPDATE_DAG_COUNTERS.values(completed_work_units=bindparam("completed"))
_UPDATE_WORKFLOW_COUNTERS = _WORKFLOWS.update().where(_WORKFLOWS.c.id == bindparam("workflow_id")).values(
    node_counters=bindparam("counters"), updated_at=bindparam("at"))


def write_poll(session: Session, workflow: WorkflowRow, dag: DagRow, counters: dict[str, int],
               by_role: dict[str, dict[str, int]], completed_changed: bool) -> None:
    """What every poll writes (its history entry when the counters moved, the counters on the DAG and the
    workflow, the DAG's completed set when WUs completed), as Core statements with cached compilations,
    and only what changed; the ORM objects get the same values as committed state (nothing for the unit of
    work to flush: its bookkeeping costs more than these statements, hundreds of times per cycle)."""
    conn = session.connection()
    if counters != dag.node_counters:
        conn.execute(_INSERT_HISTORY, {"dag_id": dag.id, "at": utcnow(), "event": "poll",
                                       "detail": {"counters": counters, "by_role": by_role}})
    if counters != dag.node_counters or completed_changed:
        if completed_changed:
            conn.execute(_UPDATE_DAG_COUNTERS_AND_DONE, {"dag_id": dag.id, "counters": counters,
                                                          "completed": dag.completed_work_units})
            set_committed_value(dag, "completed_work_units", dag.completed_work_units)
        else:
            conn.execute(_UPDATE_DAG_COUNTERS, {"dag_id": dag.id, "counters": counters})
        set_committed_value(dag, "node_counters", counters)
    if counters != workflow.node_counters:
        at = utcnow()
        conn.execute(_UPDATE_WORKFLOW_COUNTERS, {"workflow_id": workflow.id, "counters": counters, "at": at})
        set_committed_value(workflow, "node_counters", counters)
        set_committed_value(workflow, "updated_at", at)


_POLLED = (DAGStatus.submitted, DAGStatus.running, DAGStatus.halted)


@dataclass
class ActiveHandler:
    monitor: DagMonitor
    outputs: OutputManager

    def __call__(self, ctx: HandlerContext, request: RequestRow) -> None:
        session = ctx.session
        workflow, dag = workflow_and_dag(session, request)
        if dag is None:
            raise RuntimeError(f"request {request.name} is active without a current DAG")
        if dag.status in _POLLED:
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
            new = self._record_poll(session, workflow, dag, poll)
            if not poll.finished and self._production_step_stop(ctx, request, workflow, dag):
                return
            self._collect(session, workflow, dag, ctx, new)
            if not poll.finished:
                return
            self._dag_ended(ctx, request, workflow, dag, poll)
            if dag.status != DAGStatus.completed:
                return
        elif dag.status == DAGStatus.completed:
            self._collect(session, workflow, dag, ctx, [])
        else:
            return
        self._after_success(ctx, request, workflow, dag)

    def begin_batch(self, found: ActivePrefetch) -> None:
        """A batch starts: the DAG Monitor gets the batch's DAGs to poll (engine queries, then their files to
        the status reader, which reads them while this process does the database work)."""
        refs = []
        for request in found.requests:
            pair = found.workflow_dag.get(request.id)
            dag = pair[1] if pair is not None else None
            if request.status == RequestStatus.active and dag is not None and dag.status in _POLLED:
                refs.append(DagRef(Path(dag.submit_dir), dag.cluster_id, dag.schedd_name, dag.total_work_units,
                                   set(dag.completed_work_units)))
        try:
            self.monitor.begin_batch(refs)
        except Exception:  # never fails the batch: each poll then asks the engine and reads the files itself
            log.exception("lifecycle: preparing the batch's DAG polls failed; polling in-process")
            self.monitor.end_batch()

    def end_batch(self) -> None:
        self.monitor.end_batch()

    def close(self) -> None:
        self.monitor.close()

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

    def _collect(self, session: Session, workflow: WorkflowRow, dag: DagRow, ctx: HandlerContext,
                 new: list[PendingRecord]) -> None:
        """The Output Manager's work for this poll; with the batch's blocks and pending WUs when prefetched
        (the WUs this poll recorded are added: they were inserted after the prefetch)."""
        prefetch = _prefetched(session)
        blocks = prefetch.blocks.pop(workflow.id, None) if prefetch is not None else None
        old = prefetch.pending.pop(workflow.id, None) if prefetch is not None else None
        if blocks is None or old is None:
            self.outputs.collect(session, workflow, dag, ctx.now)
            return
        pending = [PendingRecord.of(row) for row in old if row.round == dag.round]
        known = {row.name for row in pending}
        pending += [row for row in new if row.name not in known]
        self.outputs.collect(session, workflow, dag, ctx.now, blocks, sorted(pending, key=lambda r: r.name))

    def _record_poll(self, session: Session, workflow: WorkflowRow, dag: DagRow, poll: DagPoll) -> list[PendingRecord]:
        new = record_completed(session, dag, poll.newly_completed)
        counters = {**{f"wu_{k}": v for k, v in poll.wu_counts.items()}, **poll.node_counts}
        write_poll(session, workflow, dag, counters, poll.by_role, bool(poll.newly_completed))
        if poll.unreadable:
            log.warning("DAG %s: completed WUs without readable outputs: %s", dag.id, poll.unreadable)
        if dag.status == DAGStatus.submitted and poll.engine_state == DagJobState.running:
            transition_dag(session, dag, DAGStatus.running, "DAGMan job running")
        elif dag.status == DAGStatus.running and poll.engine_state == DagJobState.held:
            transition_dag(session, dag, DAGStatus.halted, "DAGMan job held")
        elif dag.status == DAGStatus.halted and poll.engine_state == DagJobState.running:
            transition_dag(session, dag, DAGStatus.running, "DAGMan job released")
        return new

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
            if _registration_retrying(ctx.session, workflow, dag):
                # A registration of this round failed and is retried on the Output Manager's backoff (with
                # an alert): the next round waits.  Its WUs are only retried while this round is current, so
                # moving on would leave them, and the block, open for ever (found by the fault harness).  A
                # block given up (``failed``) no longer holds the round back.
                return
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


def _registration_retrying(session: Session, workflow: WorkflowRow, dag: DagRow) -> bool:
    """A block of the DAG's round whose last registration attempt failed and that is still retried."""
    return bool(session.scalar(select(exists().where(
        ProcessingBlockRow.workflow_id == workflow.id, ProcessingBlockRow.round == dag.round,
        ProcessingBlockRow.status == BlockStatus.open, ProcessingBlockRow.last_error.is_not(None)))))
