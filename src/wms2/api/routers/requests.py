"""``/requests``: submit, list, show, change priority / production steps, abort."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response, status

from wms2.api.auth import AuthError, Identity, Role
from wms2.api.deps import Ctx, DbSession, Paging, Requestor, Viewer
from wms2.api.models import MAX_REASON, NO_CONTROL, PageOf, RequestDetail, RequestPatch, RequestSummary, SubmitResult
from wms2.core import actions, listings
from wms2.core.views import request_detail, request_summary
from wms2.core.workflow_manager import submit_documents
from wms2.db.tables import RequestRow
from wms2.domain.enums import RequestStatus
from wms2.domain.reqmgr import FieldError, RequestImportError

router = APIRouter(prefix="/requests", tags=["requests"])
SUMMARY_COLUMNS = (RequestRow.name, RequestRow.status, RequestRow.priority, RequestRow.urgent, RequestRow.request_type,
                   RequestRow.requestor, RequestRow.campaign, RequestRow.created_at, RequestRow.updated_at)


def _check_owner(identity: Identity, row: RequestRow) -> None:
    if identity.role < Role.operator and not identity.owns(row.requestor, row.requestor_dn):
        raise AuthError(403, f"request {row.name} belongs to {row.requestor}; {identity.name} may not act on it")


def _reject_nul(value: Any, where: str) -> None:
    """PostgreSQL cannot store NUL characters in text or JSONB: name the field instead of failing."""
    if isinstance(value, str) and "\x00" in value:
        raise actions.InvalidValue(where, "contains a NUL character")
    if isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(str(key), where)
            _reject_nul(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _reject_nul(item, f"{where}[{i}]")


@router.get("", response_model=PageOf[RequestSummary])
def list_requests(
    session: DbSession, _: Viewer, page: Paging,
    status_: Annotated[RequestStatus | None, Query(alias="status")] = None,
    campaign: Annotated[str | None, Query(max_length=200)] = None,
    requestor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    return listings.list_requests(session, page.limit, page.offset, status_, campaign, requestor)


@router.post("", response_model=SubmitResult, status_code=status.HTTP_201_CREATED,
             responses={200: {"model": SubmitResult, "description": "identical request already submitted"}})
def submit_request(
    ctx: Ctx, session: DbSession, identity: Requestor, response: Response,
    document: Annotated[dict[str, Any], Body(description="a full ReqMgr2 request document")],
) -> dict[str, Any]:
    _reject_nul(document, "body")
    claimed = document.get("Requestor")
    if identity.role < Role.operator and claimed and claimed != identity.name:
        raise AuthError(403, f"Requestor {claimed!r} is not you ({identity.name}); only operators submit for others")
    # An empty source: errors name the document's own fields, unprefixed.
    results = submit_documents(session, [("", document)], ctx.settings, by=identity.name,
                               requestor=identity.name)
    result = results[0]
    row = actions.get_request(session, result.name)
    if identity.role < Role.operator and not identity.owns(row.requestor, row.requestor_dn):
        raise RequestImportError([FieldError("RequestName", f"a request named {row.name} of another requestor exists")])
    if not result.created:
        response.status_code = status.HTTP_200_OK
    ctx.wake()
    return {"name": result.name, "created": result.created, "status": row.status}


@router.get("/{name}", response_model=RequestDetail)
def get_request(session: DbSession, _: Viewer, name: str) -> dict[str, Any]:
    return request_detail(session, actions.get_request(session, name))


@router.patch("/{name}", response_model=RequestDetail)
def patch_request(ctx: Ctx, session: DbSession, identity: Requestor, name: str, patch: RequestPatch) -> dict[str, Any]:
    _check_owner(identity, actions.get_request(session, name))
    steps = None if patch.production_steps is None else [s.model_dump() for s in patch.production_steps]
    row = actions.update_request(session, name, identity.name, patch.reason, priority=patch.priority,
                                 production_steps=steps)
    ctx.wake()
    return request_detail(session, row)


@router.delete("/{name}", response_model=RequestSummary)
def abort_request(
    ctx: Ctx, session: DbSession, identity: Requestor, name: str,
    reason: Annotated[str, Query(min_length=1, max_length=MAX_REASON, pattern=NO_CONTROL,
                                 description="why (audit trail)")],
) -> dict[str, Any]:
    """Abort: removes a live DAG through the engine; 409 from a terminal status or while planning."""
    _check_owner(identity, actions.get_request(session, name))
    row = actions.abort(session, name, identity.name, reason, engine=ctx.engine)
    ctx.wake()
    return request_summary(row)
