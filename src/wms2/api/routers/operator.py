"""Engine-backed operator actions of the Lifecycle Manager (:mod:`wms2.core.operator`): stop, release,
fail, restart, errors, versions; DAG hold and release.  Operators only: a requestor aborts or
reprioritises their own request through ``/requests``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path
from sqlalchemy import select

from wms2.api.deps import Ctx, DbSession, Operator, Viewer
from wms2.api.models import (
    DagSummary,
    FailResult,
    Reason,
    ReleaseIn,
    RequestSummary,
    RestartIn,
    RestartResult,
    VersionOut,
)
from wms2.core import actions, dag_actions
from wms2.core.errors import error_summary
from wms2.core.operator import ActionRefused, ReleaseOverrides, versions
from wms2.core.views import request_summary
from wms2.db.base import utcnow
from wms2.db.tables import DagRow, RequestRow, WorkflowRow
from wms2.engines.base import EngineError

router = APIRouter(tags=["operator actions"])
T = TypeVar("T")


@contextmanager
def _translated() -> Iterator[None]:
    """The operator module's refusals are 409, engine failures 503."""
    try:
        yield
    except ActionRefused as exc:
        raise actions.Conflict(str(exc)) from None
    except EngineError as exc:
        raise actions.EngineUnavailable(f"execution engine: {type(exc).__name__}: {exc}") from None


def _act(ctx: Ctx, call: Callable[[], T]) -> T:
    with _translated():
        result = call()
    ctx.wake()
    return result


@router.post("/requests/{name}/stop", response_model=RequestSummary)
def stop(ctx: Ctx, session: DbSession, identity: Operator, name: str, body: Reason) -> dict[str, Any]:
    """Clean stop: remove the DAGMan job (it writes a rescue DAG); the request resumes from it later."""
    actions.get_request(session, name)
    row = _act(ctx, lambda: ctx.operator().stop(session, name, identity.name, body.reason, utcnow()))
    return request_summary(row)


@router.post("/requests/{name}/release", response_model=RequestSummary)
def release(ctx: Ctx, session: DbSession, identity: Operator, name: str, body: ReleaseIn) -> dict[str, Any]:
    """Release a held request back to the queue, with optional overrides; completed WUs are credited."""
    actions.get_request(session, name)
    overrides = ReleaseOverrides(memory_mb=body.memory_mb, max_retries=body.max_retries,
                                 site_bans=body.site_bans, excluded_files=body.excluded_files)
    row = _act(ctx, lambda: ctx.operator().release(session, name, identity.name, body.reason, utcnow(), overrides))
    return request_summary(row)


@router.post("/requests/{name}/fail", response_model=FailResult)
def fail(ctx: Ctx, session: DbSession, identity: Operator, name: str, body: Reason) -> dict[str, Any]:
    """Fail (terminal): remove any DAG, mark open blocks failed."""
    row = actions.get_request(session, name)
    produced = _act(ctx, lambda: ctx.operator().fail(session, name, identity.name, body.reason, utcnow()))
    return {"name": name, "status": row.status, "produced": produced}


@router.post("/requests/{name}/restart", response_model=RestartResult)
def restart(ctx: Ctx, session: DbSession, identity: Operator, name: str, body: RestartIn) -> dict[str, Any]:
    """Catastrophic recovery: a new processing version of the request; the old one fails."""
    actions.get_request(session, name)
    new = _act(ctx, lambda: ctx.operator().restart(session, name, identity.name, body.reason, utcnow(),
                                                   body.cleanup_policy))
    return {"name": name, "new_request": new}


@router.get("/requests/{name}/errors")
def errors(session: DbSession, _: Viewer, name: str) -> dict[str, Any]:
    """Failures by category, site, exit code and step; bad input files; log tails (read from files)."""
    row = actions.get_request(session, name)
    if session.scalar(select(WorkflowRow.id).where(WorkflowRow.request_id == row.id)) is None:
        raise actions.Conflict(f"request {name} is {row.status}: it has no workflow, hence no errors")
    return error_summary(session, row)


@router.get("/requests/{name}/versions", response_model=list[VersionOut])
def request_versions(session: DbSession, _: Viewer, name: str) -> list[dict[str, Any]]:
    actions.get_request(session, name)
    return versions(session, name)


def _request_of_dag(session: Any, dag_id: int) -> str:
    dag = session.get(DagRow, dag_id)
    if dag is None:
        raise actions.NotFound("DAG", dag_id)
    wf = session.get(WorkflowRow, dag.workflow_id)
    row = session.get(RequestRow, wf.request_id)
    if wf.current_dag_id != dag.id:
        raise actions.Conflict(f"DAG {dag_id} is not the current DAG of request {row.name}")
    return str(row.name)


DagId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/dags/{dag_id}/hold", response_model=DagSummary)
def hold_dag(ctx: Ctx, session: DbSession, identity: Operator, dag_id: DagId, body: Reason) -> DagRow:
    """Pause the DAGMan job (its request keeps its admission slot)."""
    name = _request_of_dag(session, dag_id)
    return _act(ctx, lambda: ctx.operator().hold_dag(session, name, identity.name, body.reason))


@router.post("/dags/{dag_id}/release", response_model=DagSummary)
def release_dag(ctx: Ctx, session: DbSession, identity: Operator, dag_id: DagId, body: Reason) -> DagRow:
    name = _request_of_dag(session, dag_id)
    by = f"{identity.name} ({body.reason})"  # release_dag records who; the why rides along
    return _act(ctx, lambda: ctx.operator().release_dag(session, name, by))


@router.post("/dags/{dag_id}/remove", response_model=DagSummary)
def remove_dag(ctx: Ctx, session: DbSession, identity: Operator, dag_id: DagId, body: Reason) -> DagRow:
    """Remove the DAGMan job of a live DAG (DAGMan writes its rescue file); the lifecycle then treats the
    round as failed (Error Handler: rescue or hold).  For a pause that resumes on its own, use ``stop``."""
    return _act(ctx, lambda: dag_actions.remove_dag(session, dag_id, identity.name, body.reason, ctx.engine(),
                                                    utcnow()))


@router.post("/dags/{dag_id}/rescue", response_model=DagSummary)
def rescue_dag(ctx: Ctx, session: DbSession, identity: Operator, dag_id: DagId, body: Reason) -> DagRow:
    """Force a rescue of a request's current DAG that ended partial or stopped (even when the Error Handler
    held the request); returns the new ``ready`` rescue DAG, which admission resubmits."""
    return _act(ctx, lambda: dag_actions.rescue_dag(session, dag_id, identity.name, body.reason, utcnow()))
