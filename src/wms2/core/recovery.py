"""Rescue DAG records: the shared mechanics of failure rescues (Error Handler) and clean stops.

The engine resubmits the *original* DAG file; DAGMan (and the local engine) applies the newest
``.rescueNNN`` and skips the nodes it marks DONE.  WMS2 only keeps a new DAG record that points at
its parent, carries over the completed WUs, and knows which rescue file it expects.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from wms2.core.transitions import transition_dag
from wms2.dagman.rescue import newest_rescue
from wms2.db.tables import DagHistoryRow, DagRow, WorkflowRow
from wms2.domain.enums import DAGStatus

LANDING_SUB = "landing.sub"
ELECTED_SITE = "elected_site"
_BANS_RE = re.compile(r"^WMS2_SiteBans\s*=.*$", re.MULTILINE)


def new_rescue_record(session: Session, workflow: WorkflowRow, old: DagRow, kind: str) -> DagRow:
    """A ``ready`` DAG record that resumes ``old`` from its newest rescue file."""
    rescue = newest_rescue(Path(old.dag_file))
    new = DagRow(
        workflow_id=old.workflow_id, round=old.round, dag_file=old.dag_file, submit_dir=old.submit_dir,
        rescue_dag=str(rescue[1]) if rescue else None, parent_dag_id=old.id, rescue_kind=kind,
        total_nodes=old.total_nodes, total_edges=old.total_edges, nodes_by_role=old.nodes_by_role,
        total_work_units=old.total_work_units, completed_work_units=dict(old.completed_work_units),
        round_params=dict(old.round_params), status=DAGStatus.ready,
    )
    session.add(new)
    session.flush()
    session.add(DagHistoryRow(dag_id=new.id, event="created", detail={
        "parent": old.id, "kind": kind, "rescue_dag": new.rescue_dag}))
    workflow.current_dag_id = new.id
    return new


def failure_rescues(session: Session, dag: DagRow) -> int:
    """How many failure rescues the chain ending at ``dag`` already used (stop rescues do not count)."""
    count, current = 0, dag
    while current is not None:
        if current.rescue_kind == "failure":
            count += 1
        current = session.get(DagRow, current.parent_dag_id) if current.parent_dag_id else None
    return count


def ban_clause(banned: list[str]) -> str:
    """The ClassAd clause that excludes banned sites (``true`` when there are none)."""
    if not banned:
        return "true"
    return " && ".join(f'(TARGET.GLIDEIN_CMSSite =!= "{site}")' for site in sorted(set(banned)))


def apply_bans_to_landing(submit_dir: Path, banned: list[str], skip: set[str]) -> int:
    """Rewrite the ``WMS2_SiteBans`` macro of the landing node of every WU not yet done, so that banned
    sites are excluded (bans never choose a site; they only exclude).  The planner renders
    ``requirements = ... && ($(WMS2_SiteBans))``.  Idempotent.  Returns the number of files changed."""
    changed = 0
    line = f"WMS2_SiteBans = {ban_clause(banned)}"
    for wu_dir in sorted(submit_dir.glob("mg_*")):
        sub = wu_dir / LANDING_SUB
        if wu_dir.name in skip or not sub.is_file():
            continue
        text = sub.read_text()
        new_text, n = _BANS_RE.subn(line, text, count=1)
        if n == 0:
            raise ValueError(f"{sub}: no WMS2_SiteBans line to update")
        if new_text != text:
            tmp = sub.with_name(sub.name + ".tmp")
            tmp.write_text(new_text)
            tmp.replace(sub)
            changed += 1
    return changed


def reelect_banned(submit_dir: Path, banned: list[str], skip: set[str]) -> list[str]:
    """A WU whose elected site is now banned must elect again: its inner rescue DAGs are set aside
    (renamed ``*.banned``) and ``elected_site`` removed, so its sub-DAG restarts at the landing node.
    Returns the WUs reset."""
    reset = []
    for wu_dir in sorted(submit_dir.glob("mg_*")):
        site_file = wu_dir / ELECTED_SITE
        if wu_dir.name in skip or not site_file.is_file() or site_file.read_text().strip() not in banned:
            continue
        for rescue in sorted(wu_dir.glob("group.dag.rescue[0-9][0-9][0-9]")):
            rescue.rename(rescue.with_name(rescue.name + ".banned"))
        site_file.rename(site_file.with_name(ELECTED_SITE + ".banned"))
        reset.append(wu_dir.name)
    return reset


def end_dag(session: Session, dag: DagRow, status: DAGStatus, reason: str) -> None:
    transition_dag(session, dag, status, reason)


def chain(session: Session, dag: DagRow) -> list[DagRow]:
    out, current = [], dag
    while current is not None:
        out.append(current)
        current = session.get(DagRow, current.parent_dag_id) if current.parent_dag_id else None
    return list(reversed(out))


def dags_of(session: Session, workflow_id: int) -> list[DagRow]:
    return list(session.scalars(select(DagRow).where(DagRow.workflow_id == workflow_id).order_by(DagRow.id)))
