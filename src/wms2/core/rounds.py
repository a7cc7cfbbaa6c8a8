"""Finishing a round (design §7.4): aggregate metrics, credit work, advance, demote priority.

Called by the ``active`` handler when a round's DAG has ended successfully (and by the Error Handler
when an operator's release credits the WUs a failed round completed).  Pure bookkeeping on the
workflow and request rows; the status change stays with the Lifecycle Manager.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from wms2.core.aggregation import aggregate_steps, round_summary
from wms2.core.transitions import SYSTEM
from wms2.core.wu_records import round_outputs
from wms2.db.tables import DagRow, InputFileRow, ProcessingBlockRow, RequestRow, WorkflowRow
from wms2.domain.enums import BlockStatus, InputFileState


def finish_round(session: Session, request: RequestRow, workflow: WorkflowRow, dag: DagRow, now: datetime) -> None:
    wus = round_outputs(session, dag)
    summaries = [wu["metrics"] for wu in wus.values() if wu.get("metrics")]
    if summaries:
        agg = aggregate_steps(summaries)
        dag.round_metrics = {**dag.round_metrics, "step_metrics": agg, **round_summary(agg)}
        history = dict(workflow.step_metrics.get("rounds", {}))
        history[str(dag.round)] = round_summary(agg)
        workflow.step_metrics = {"steps": agg["steps"], "jobs_sampled": agg["jobs_sampled"],
                                 "round": dag.round, "rounds": history}
        peak = dag.round_metrics.get("peak_rss_mb") or 0.0
        prev_peak = float(workflow.adaptive_params.get("historical_peak_rss_mb") or 0.0)
        workflow.adaptive_params = {**dag.round_params, "historical_peak_rss_mb": max(peak, prev_peak)}
    else:
        workflow.adaptive_params = {**workflow.adaptive_params, **dag.round_params}
    produced = _events_registered(wus)
    dag.round_metrics = {**dag.round_metrics, "events_registered": produced,
                         "work_units_completed": len(wus)}
    workflow.events_produced += produced
    _credit_input_files(session, workflow, dag, wus)
    workflow.current_round = max(workflow.current_round, dag.round + 1)
    apply_production_steps(session, request, workflow, now)


def close_round_blocks(session: Session, workflow: WorkflowRow, dag: DagRow) -> None:
    """A round that ends with WUs that will never complete (an operator release after a failure, a
    round closed on data failures): its blocks hold only the completed WUs, so they can be closed and
    archived; a block no WU ever reached was never opened in the catalog and is dropped."""
    outputs = round_outputs(session, dag)
    for block in session.scalars(select(ProcessingBlockRow).where(
            ProcessingBlockRow.workflow_id == workflow.id, ProcessingBlockRow.round == dag.round,
            ProcessingBlockRow.status == BlockStatus.open)):
        produced = {wu for wu, rec in outputs.items()
                    if any(f["dataset"] == block.dataset for f in rec.get("files", []))}
        if not produced and block.catalog_block_name is None:
            session.delete(block)
        else:
            block.total_work_units = len(produced | set(block.completed_work_units))


def _events_registered(wus: dict[str, Any]) -> int:
    """Output events of the round, counted on the dataset with the most events (the final tier)."""
    per_dataset: dict[str, int] = {}
    for wu in wus.values():
        for f in wu.get("files", []):
            per_dataset[f["dataset"]] = per_dataset.get(f["dataset"], 0) + int(f["events"])
    return max(per_dataset.values(), default=0)


def _credit_input_files(session: Session, workflow: WorkflowRow, dag: DagRow, wus: dict[str, Any]) -> None:
    processed = sorted({lfn for wu in wus.values() for lfn in wu.get("processed_input_lfns", [])})
    if processed:
        session.execute(update(InputFileRow).where(
            InputFileRow.workflow_id == workflow.id, InputFileRow.lfn.in_(processed),
            InputFileRow.state != InputFileState.excluded).values(state=InputFileState.processed))
    session.execute(update(InputFileRow).where(
        InputFileRow.workflow_id == workflow.id, InputFileRow.round == dag.round,
        InputFileRow.state == InputFileState.assigned).values(state=InputFileState.attempted))


def completed_fraction(session: Session, request: RequestRow, workflow: WorkflowRow) -> float:
    """Events for generation, files for input-driven work (design §6.4)."""
    if workflow.input_dataset is None:
        total = int(request.spec["splitting"]["request_num_events"] or 0)
        return workflow.events_produced / total if total else 0.0
    counts = dict(session.execute(select(InputFileRow.state, func.count(InputFileRow.id))
                                  .where(InputFileRow.workflow_id == workflow.id).group_by(InputFileRow.state)).all())
    total = sum(counts.values())
    return counts.get(InputFileState.processed, 0) / total if total else 0.0


def running_fraction(session: Session, request: RequestRow, workflow: WorkflowRow, dag: DagRow) -> float:
    """The completed fraction while a round runs: what earlier rounds produced plus this DAG's WUs."""
    if workflow.input_dataset is None:
        total = int(request.spec["splitting"]["request_num_events"] or 0)
        return (workflow.events_produced + _events_registered(round_outputs(session, dag))) / total if total else 0.0
    total = session.scalar(select(func.count(InputFileRow.id)).where(InputFileRow.workflow_id == workflow.id)) or 0
    done = {lfn for wu in round_outputs(session, dag).values() for lfn in wu.get("processed_input_lfns", [])}
    earlier = session.scalar(select(func.count(InputFileRow.id)).where(
        InputFileRow.workflow_id == workflow.id, InputFileRow.state == InputFileState.processed)) or 0
    return (earlier + len(done)) / total if total else 0.0


def apply_production_steps(session: Session, request: RequestRow, workflow: WorkflowRow, now: datetime,
                           fraction: float | None = None) -> bool:
    """Consume every production step whose fraction is reached; the priority drops to its priority."""
    if fraction is None:
        fraction = completed_fraction(session, request, workflow)
    steps = list(request.production_steps)
    consumed = False
    while steps and fraction >= float(steps[0]["fraction"]):
        step = steps.pop(0)
        old = request.priority
        request.priority = int(step["priority"])
        request.status_transitions = [*request.status_transitions, {
            "from": str(request.status), "to": str(request.status), "at": now.isoformat(), "by": SYSTEM,
            "reason": f"production step {step['fraction']:g} reached ({fraction:.1%} done):"
                      f" priority {old} -> {request.priority}"}]
        consumed = True
    request.production_steps = steps
    return consumed
