"""Error Handler, Level 2 (design §6.5): a round's DAG ended with failures; rescue or hold.

``failure_ratio = failed WUs / WUs in the round`` (WUs completed in an earlier attempt are not failures).
If it is below ``rescue_failure_ratio`` and fewer than ``max_failure_rescues`` failure rescues were used,
derive site bans and resubmit the rescue DAG; otherwise ``held`` with the reason.  ``failed`` is never
set automatically.  The ``stopping`` handler (clean stop, §6.3) lives here too: same rescue mechanics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from wms2.core.active import workflow_of
from wms2.core.post_results import iter_post_results
from wms2.core.recovery import apply_bans_to_landing, failure_rescues, new_rescue_record, reelect_banned
from wms2.core.rounds import close_round_blocks, finish_round
from wms2.core.site_bans import banned_sites, derive_bans
from wms2.core.transitions import SYSTEM, transition, transition_dag, transition_workflow
from wms2.core.workers import HandlerContext
from wms2.dagman.rescue import newest_rescue
from wms2.db.tables import DagRow, RequestRow
from wms2.domain.enums import DAGStatus, RequestStatus, WorkflowStatus
from wms2.engines.base import DagJobState, Engine, EngineError, JobUnknown

log = logging.getLogger(__name__)


def refresh_bans(ctx: HandlerContext, workflow_id: int, dag: DagRow) -> list[str]:
    """Apply the bans in force to the landing nodes of the WUs not yet done (before any resubmission);
    a WU whose elected site is banned elects again."""
    banned = banned_sites(ctx.session, workflow_id, ctx.now)
    done = set(dag.completed_work_units)
    apply_bans_to_landing(Path(dag.submit_dir), banned, skip=done)
    reset = reelect_banned(Path(dag.submit_dir), banned, skip=done)
    if reset:
        log.info("DAG %s: work units %s elect a new site (their site is banned)", dag.id, reset)
    return banned


RETRYABLE = frozenset({"transient", "infrastructure", "memory", "catastrophic"})


def failure_kinds(dag: DagRow) -> dict[str, set[str]]:
    """Final failure categories per failed WU (an empty set: no POST verdict, e.g. never matched)."""
    failed = set(dag.round_metrics.get("failed_work_units", []))
    kinds: dict[str, set[str]] = {wu: set() for wu in failed}
    for wu, result in iter_post_results(Path(dag.submit_dir), final_only=True, work_units=failed):
        if result.classification.category != "success":
            kinds[wu].add(result.classification.category)
    return kinds


@dataclass
class PartialHandler:
    def __call__(self, ctx: HandlerContext, request: RequestRow) -> None:
        session, cfg = ctx.session, ctx.settings.failures
        workflow = workflow_of(session, request)
        dag = session.get(DagRow, workflow.current_dag_id)
        if dag is None:
            raise RuntimeError(f"request {request.name} is partial without a current DAG")
        failed = list(dag.round_metrics.get("failed_work_units", []))
        total = max(dag.total_work_units, 1)
        ratio = len(failed) / total
        new_bans = derive_bans(session, workflow.id, Path(dag.submit_dir), cfg, ctx.now)
        used = failure_rescues(session, dag)
        summary = (f"{len(failed)} of {dag.total_work_units} work units failed ({ratio:.0%});"
                   f" {used} failure rescue(s) used")
        if new_bans:
            summary += "; banned " + ", ".join(sorted(b.site for b in new_bans))
        kinds = failure_kinds(dag)
        data_only = bool(kinds) and all(k == {"data"} for k in kinds.values())
        if data_only:
            # A rescue would read the same bad files again: end the round, credit what completed; the
            # next round re-plans the failed WUs' files (bad ones are excluded when they failed at
            # enough sites).
            finish_round(session, request, workflow, dag, ctx.now)
            close_round_blocks(session, workflow, dag)
            transition_dag(session, dag, DAGStatus.failed, f"round closed on data failures: {summary}")
            transition_workflow(workflow, WorkflowStatus.resubmitting)
            transition(request, RequestStatus.resubmitting, SYSTEM,
                       f"input data failures, files re-planned: {summary}", ctx.now)
            return
        retryable = any(not k or k & RETRYABLE for k in kinds.values())
        if ratio < cfg.rescue_failure_ratio and used < cfg.max_failure_rescues and retryable:
            transition_dag(session, dag, DAGStatus.failed, f"rescued: {summary}")
            new = new_rescue_record(session, workflow, dag, "failure")
            refresh_bans(ctx, workflow.id, new)
            transition_workflow(workflow, WorkflowStatus.resubmitting)
            transition(request, RequestStatus.resubmitting, SYSTEM, f"rescue DAG {new.id}: {summary}", ctx.now)
            return
        if not retryable:
            why = "every failure is permanent; a rescue cannot help"
        elif ratio >= cfg.rescue_failure_ratio:
            why = f"failure ratio {ratio:.0%} at or above {cfg.rescue_failure_ratio:.0%}"
        else:
            why = f"{used} failure rescues used (limit {cfg.max_failure_rescues})"
        transition(request, RequestStatus.held, SYSTEM, f"held ({why}): {summary}", ctx.now)


@dataclass
class StoppingHandler:
    """Clean stop: once the DAGMan job is gone, the DAG is ``stopped`` and a rescue record is ready."""

    engine: Engine

    def __call__(self, ctx: HandlerContext, request: RequestRow) -> None:
        session = ctx.session
        workflow = workflow_of(session, request)
        dag = session.get(DagRow, workflow.current_dag_id)
        if dag is None or dag.cluster_id is None or dag.schedd_name is None:
            raise RuntimeError(f"request {request.name} is stopping without a submitted DAG")
        try:
            state = self.engine.query(dag.cluster_id, dag.schedd_name).state
        except JobUnknown:
            state = DagJobState.gone
        except EngineError as exc:
            log.info("stopping %s: engine not answering: %s", request.name, exc)
            return
        if state not in (DagJobState.gone, DagJobState.removed, DagJobState.completed):
            return
        if newest_rescue(Path(dag.dag_file)) is None:
            # DAGMan ended on its own before the removal took effect: let the active handler finish it.
            transition_workflow(workflow, WorkflowStatus.active)
            transition(request, RequestStatus.active, SYSTEM, "the DAG ended before the stop took effect", ctx.now)
            return
        reason = f"stopped by operator: {dag.stop_reason or 'no reason given'}"
        transition_dag(session, dag, DAGStatus.stopped, reason)
        new = new_rescue_record(session, workflow, dag, "stop")
        refresh_bans(ctx, workflow.id, new)
        transition_workflow(workflow, WorkflowStatus.resubmitting)
        transition(request, RequestStatus.resubmitting, SYSTEM,
                   f"DAGMan gone; resume from {Path(new.rescue_dag).name if new.rescue_dag else 'the DAG'}",
                   ctx.now)
