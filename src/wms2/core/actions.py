"""Operator and requestor actions that need no planning: abort, priority and production steps, sites,
bans, admission cap.  Owned by the Lifecycle Manager (invariant 4): every request status change goes
through :func:`wms2.core.transitions.transition`, every other change appends an audit record naming
who and why.  Callers (the API, the CLI) commit the session and then wake the lifecycle loop.

Engine-backed actions that need rescue/planning logic (stop, release, fail, restart, DAG hold/release)
live in :mod:`wms2.core.operator`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from wms2.config import Settings
from wms2.core.transitions import transition, transition_block, transition_dag, transition_workflow
from wms2.db.auth_tables import SettingsOverrideRow
from wms2.db.base import utcnow
from wms2.db.tables import DagRow, ProcessingBlockRow, RequestRow, SiteBanRow, SiteRow, WorkflowRow
from wms2.domain.enums import (
    TERMINAL_REQUEST_STATUSES,
    BlockStatus,
    DAGStatus,
    RequestStatus,
    SiteStatus,
    WorkflowStatus,
)
from wms2.domain.request import RequestSpec
from wms2.engines.base import Engine, EngineError, JobUnknown
from wms2.services.sites import SiteCatalog, SiteInfo

log = logging.getLogger(__name__)

# Statuses from which an abort makes sense.  ``planning`` is refused: the lifecycle thread is writing
# the round right now and would overwrite the abort; the operator retries once it is active.
ABORTABLE = frozenset(RequestStatus) - TERMINAL_REQUEST_STATUSES - {RequestStatus.planning}
LIVE_DAG_STATUSES = (DAGStatus.submitted, DAGStatus.running, DAGStatus.halted)
MAX_ACTIVE_DAGS_KEY = "admission.max_active_dags"


class ActionError(Exception):
    """Base class: the action cannot be done; the message says why."""


class NotFound(ActionError):
    def __init__(self, entity: str, key: object) -> None:
        super().__init__(f"{entity} {key} not found")
        self.entity = entity
        self.key = key


class Conflict(ActionError):
    """The action is not valid in the current status (HTTP 409)."""


class InvalidValue(ActionError):
    """A value is invalid; ``field`` names it (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class EngineUnavailable(ActionError):
    """The execution engine is needed and did not answer (HTTP 503): nothing was changed."""


# -- requests ----------------------------------------------------------------------------------------
def get_request(session: Session, name: str, lock: bool = False) -> RequestRow:
    stmt = select(RequestRow).where(RequestRow.name == name)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        raise NotFound("request", name)
    return row


def _audit(row: RequestRow, by: str, reason: str, now: datetime) -> None:
    """An audit record for a change that is not a status change (``from == to``)."""
    status = str(row.status)
    row.status_transitions = [*row.status_transitions,
                              {"from": status, "to": status, "at": now.isoformat(), "by": by, "reason": reason}]


EngineFactory = Callable[[], Engine]


def abort(session: Session, name: str, by: str, reason: str, engine: EngineFactory | None = None,
          now: datetime | None = None) -> RequestRow:
    """Abort a request: remove its live DAG through the engine, then request and workflow → ``aborted``.

    ``engine`` builds the engine, only when a live DAG must be removed.  Open blocks are marked failed.
    Raises :class:`Conflict` from a terminal status or ``planning``,
    :class:`EngineUnavailable` when a live DAG cannot be removed (nothing changes then).
    """
    now = now or utcnow()
    row = get_request(session, name, lock=True)
    status = RequestStatus(row.status)
    if status not in ABORTABLE:
        why = ("it is being planned right now; retry in a few seconds" if status == RequestStatus.planning
               else "it is terminal")
        raise Conflict(f"request {name} is {status}: cannot abort ({why})")
    workflow = session.scalar(select(WorkflowRow).where(WorkflowRow.request_id == row.id))
    if workflow is not None:
        _remove_dags(session, workflow, engine, f"aborted by {by}: {reason}")
        for block in session.scalars(select(ProcessingBlockRow).where(
                ProcessingBlockRow.workflow_id == workflow.id, ProcessingBlockRow.status == BlockStatus.open)):
            transition_block(block, BlockStatus.failed)
            block.last_error = f"request aborted by {by}: {reason}"
        if WorkflowStatus(workflow.status) not in (WorkflowStatus.completed, WorkflowStatus.failed,
                                                   WorkflowStatus.aborted):
            transition_workflow(workflow, WorkflowStatus.aborted)
    transition(row, RequestStatus.aborted, by, reason, now)
    session.flush()
    return row


def _remove_dags(session: Session, workflow: WorkflowRow, engine: EngineFactory | None, reason: str) -> None:
    dags = list(session.scalars(select(DagRow).where(
        DagRow.workflow_id == workflow.id,
        DagRow.status.in_([*LIVE_DAG_STATUSES, DAGStatus.ready, DAGStatus.planning]))))
    for dag in dags:
        if DAGStatus(dag.status) in LIVE_DAG_STATUSES and dag.cluster_id is not None and dag.schedd_name:
            if engine is None:
                raise EngineUnavailable(f"DAG {dag.id} is live and no execution engine is available to remove it")
            try:
                engine().remove(dag.cluster_id, dag.schedd_name, reason)
            except JobUnknown:
                log.info("DAG %s: DAGMan job %s already gone", dag.id, dag.cluster_id)
            except EngineError as exc:
                raise EngineUnavailable(f"DAG {dag.id}: cannot remove DAGMan job {dag.cluster_id}"
                                        f" on {dag.schedd_name}: {exc}") from exc
        target = DAGStatus.failed if DAGStatus(dag.status) == DAGStatus.planning else DAGStatus.removed
        transition_dag(session, dag, target, reason)


def update_request(session: Session, name: str, by: str, reason: str, *, priority: int | None = None,
                   production_steps: list[dict[str, Any]] | None = None, now: datetime | None = None) -> RequestRow:
    """Change priority and/or production steps, validated exactly like the import (design §6.4)."""
    now = now or utcnow()
    row = get_request(session, name, lock=True)
    if RequestStatus(row.status) in TERMINAL_REQUEST_STATUSES:
        raise Conflict(f"request {name} is {row.status}: it can no longer be changed")
    if priority is None and production_steps is None:
        raise InvalidValue("body", "nothing to change: give priority and/or production_steps")
    new_priority = row.priority if priority is None else priority
    new_steps = row.production_steps if production_steps is None else production_steps
    try:
        spec = RequestSpec.model_validate({**row.spec, "priority": new_priority, "production_steps": new_steps})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidValue(field, first["msg"]) from None
    changes: list[str] = []
    if spec.priority != row.priority:
        changes.append(f"priority {row.priority} -> {spec.priority}")
    steps = [s.model_dump() for s in spec.production_steps]
    if steps != row.production_steps:
        changes.append(f"production steps {row.production_steps} -> {steps}")
    if not changes:
        return row
    row.priority = spec.priority
    row.production_steps = steps
    row.spec = {**row.spec, "priority": spec.priority, "production_steps": steps}
    _audit(row, by, f"{'; '.join(changes)}: {reason}", now)
    session.flush()
    return row


# -- sites and bans ----------------------------------------------------------------------------------
def sync_sites(session: Session, catalog: SiteCatalog) -> int:
    """Insert the catalog's sites that the table lacks (an operator's status is never overwritten)."""
    known = set(session.scalars(select(SiteRow.name)))
    added = 0
    infos: list[SiteInfo] = catalog.list_sites()
    for info in infos:
        if info.name in known:
            continue
        session.add(SiteRow(name=info.name, tier=info.tier, status=info.status or SiteStatus.enabled,
                            total_slots=info.slots, storage_element=info.storage[0] if info.storage else None,
                            updated_by="site-catalog", reason="synced from the site catalog"))
        added += 1
    session.flush()
    return added


def get_site(session: Session, name: str) -> SiteRow:
    row = session.scalar(select(SiteRow).where(SiteRow.name == name))
    if row is None:
        raise NotFound("site", name)
    return row


def set_site_status(session: Session, name: str, status: SiteStatus, by: str, reason: str) -> SiteRow:
    """Enable, drain, disable or put a site in maintenance (excluded from new DAGs unless enabled)."""
    row = get_site(session, name)
    if SiteStatus(row.status) == status:
        raise Conflict(f"site {name} is already {status}")
    log.info("site %s: %s -> %s by %s: %s", name, row.status, status, by, reason)
    row.status = status
    row.updated_by = by
    row.reason = reason
    session.flush()
    return row


def update_site(session: Session, name: str, by: str, reason: str, *, status: SiteStatus | None = None,
                total_slots: int | None = None) -> SiteRow:
    row = get_site(session, name)
    if status is None and total_slots is None:
        raise InvalidValue("body", "nothing to change: give status and/or total_slots")
    if total_slots is not None:
        if total_slots < 0:
            raise InvalidValue("total_slots", "must be >= 0")
        row.total_slots = total_slots
    if status is not None:
        row.status = status
    row.updated_by = by
    row.reason = reason
    session.flush()
    return row


def lift_ban(session: Session, ban_id: int, by: str, reason: str, now: datetime | None = None) -> SiteBanRow:
    ban = session.get(SiteBanRow, ban_id)
    if ban is None:
        raise NotFound("ban", ban_id)
    if ban.removed_at is not None:
        raise Conflict(f"ban {ban_id} was already lifted at {ban.removed_at.isoformat()} by {ban.removed_by}")
    now = now or utcnow()
    log.info("ban %s (site %s) lifted by %s: %s", ban_id, ban.site, by, reason)
    ban.removed_at = now
    ban.removed_by = by
    ban.failure_data = {**ban.failure_data, "lift_reason": reason}
    session.flush()
    return ban


# -- admission and settings overrides ------------------------------------------------------------
def set_override(session: Session, key: str, value: Any, by: str, reason: str) -> SettingsOverrideRow:
    row = session.get(SettingsOverrideRow, key)
    if row is None:
        row = SettingsOverrideRow(key=key, value=value, updated_by=by, reason=reason)
        session.add(row)
    else:
        row.value, row.updated_by, row.reason = value, by, reason
    log.info("setting %s = %r by %s: %s", key, value, by, reason)
    session.flush()
    return row


def set_max_active_dags(session: Session, value: int, by: str, reason: str) -> SettingsOverrideRow:
    if value < 0:
        raise InvalidValue("max_active_dags", "must be >= 0")
    return set_override(session, MAX_ACTIVE_DAGS_KEY, int(value), by, reason)


def effective_max_active_dags(session: Session, settings: Settings) -> int:
    """The admission cap: the operator's override when set, else ``settings.admission.max_active_dags``.

    The Lifecycle Manager calls this at the start of each cycle."""
    row = session.get(SettingsOverrideRow, MAX_ACTIVE_DAGS_KEY)
    if row is not None and isinstance(row.value, int):
        return row.value
    return settings.admission.max_active_dags
