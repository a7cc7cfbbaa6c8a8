"""Completed work units: a light entry on the DAG row, the full record in ``work_unit_records``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Executable, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from wms2.core.monitor import CompletedWorkUnit
from wms2.db.base import utcnow
from wms2.db.tables import DagRow, WorkUnitRecordRow


def store_completed(session: Session, dag: DagRow, completed: Iterable[CompletedWorkUnit]) -> int:
    """Record newly completed WUs (idempotent: a WU already recorded for the round is skipped)."""
    completed = list(completed)
    if not completed:
        return 0
    now = utcnow()
    rows = [{"workflow_id": dag.workflow_id, "round": dag.round, "name": wu.name, "site": wu.site,
             "registered": False, "record": wu.as_record(), "created_at": now}
            for wu in completed]
    # one multi-row INSERT (a round completes hundreds of WUs; no per-row ORM objects needed); a WU already
    # recorded for the round (a rescue DAG of it, a repeated poll) is skipped by the unique key, without
    # a look-up first
    session.execute(_insert_new_records(session), rows)
    for wu in completed:
        dag.completed_work_units[wu.name] = {"site": wu.site}
    flag_modified(dag, "completed_work_units")
    return len(completed)


def _insert_new_records(session: Session) -> Executable:
    """``INSERT ... ON CONFLICT (workflow_id, round, name) DO NOTHING`` in the session's dialect."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        raise RuntimeError(f"unsupported database dialect {dialect!r} (SQLite or PostgreSQL)")
    return dialect_insert(WorkUnitRecordRow).on_conflict_do_nothing(index_elements=RECORD_KEY)


RECORD_KEY = ("workflow_id", "round", "name")  # uq_work_unit_record


def round_records(session: Session, dag: DagRow, pending_only: bool = False) -> list[WorkUnitRecordRow]:
    """The round's WU records (of this DAG chain), in WU order."""
    stmt = select(WorkUnitRecordRow).where(WorkUnitRecordRow.workflow_id == dag.workflow_id,
                                           WorkUnitRecordRow.round == dag.round)
    if pending_only:
        stmt = stmt.where(WorkUnitRecordRow.registered.is_(False))
    return list(session.scalars(stmt.order_by(WorkUnitRecordRow.name)))


def round_outputs(session: Session, dag: DagRow) -> dict[str, dict[str, Any]]:
    """``{WU name: record}`` for the WUs this DAG (chain) completed."""
    done = set(dag.completed_work_units)
    return {r.name: r.record for r in round_records(session, dag) if r.name in done}


def workflow_outputs(session: Session, workflow_id: int) -> dict[tuple[int, str], dict[str, Any]]:
    """Every completed WU record of a workflow, keyed by ``(round, name)``."""
    rows = session.scalars(select(WorkUnitRecordRow).where(WorkUnitRecordRow.workflow_id == workflow_id)
                           .order_by(WorkUnitRecordRow.round, WorkUnitRecordRow.name))
    return {(r.round, r.name): r.record for r in rows}
