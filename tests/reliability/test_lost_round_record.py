"""A round directory that an engine ran, with no DAG row for it (the database lost a transaction it had
reported committed: found by the fault harness when its PostgreSQL ran with ``synchronous_commit=off``),
is never planned over nor submitted again: the request is held at once with the reason and an alert.
Before, it was deferred every cycle (871 times in 11 minutes) until the one-day hold."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, select

from tests.reliability.test_disk_full_planning import generation_request
from wms2.config import Settings
from wms2.db.session import Database
from wms2.db.tables import AlertRow, DagHistoryRow, DagRow, ProcessingBlockRow, RequestRow, WorkflowRow


def _lose_the_round(db: Database) -> Path:
    """What a lost commit leaves: DAGMan's files in the round directory, no DAG row, the workflow's
    offsets as before the round was planned; the request back in the queue."""
    with db.session() as s:
        dag = s.scalar(select(DagRow))
        assert dag is not None
        submit_dir = Path(dag.submit_dir)
        s.execute(delete(DagHistoryRow))
        s.execute(delete(ProcessingBlockRow))
        wf = s.scalar(select(WorkflowRow))
        wf.current_dag_id = None
        wf.current_round = 0
        wf.next_first_event = 1
        wf.events_planned = 0
        wf.status = "new"
        s.flush()
        s.execute(delete(DagRow))
        req = s.scalar(select(RequestRow))
        req.status = "queued"
    (submit_dir / "workflow.dag.dagman.out").write_text("DAGMan was here\n")  # the engine's mark
    return submit_dir


def test_a_round_run_without_its_record_is_held_not_replanned(db: Database, settings: Settings) -> None:
    engine, manager = generation_request(db, settings, "lost_round_gen")
    while not engine.submitted:
        assert not manager.run_cycle().errors
    submit_dir = _lose_the_round(db)
    before = sorted(p.name for p in submit_dir.iterdir())

    for _ in range(2):  # idempotent: the second cycle finds it held and does nothing
        report = manager.run_cycle()
        assert report.errors == [], report.errors
    assert len(engine.submitted) == 1, "submitted a second time"
    assert sorted(p.name for p in submit_dir.iterdir()) == before, "the round directory was rewritten"
    with db.session() as s:
        req = s.scalar(select(RequestRow))
        assert req.status == "held"
        reason = req.status_transitions[-1]["reason"]
        assert str(submit_dir) in reason and "no DAG" in reason and "lost_round_gen-r<round>-d<id>" in reason
        assert s.scalar(select(DagRow)) is None
        alerts = list(s.scalars(select(AlertRow).where(AlertRow.kind == "round_without_record")))
        assert len(alerts) == 1 and alerts[0].request_name == "lost_round_gen"
