"""``/requests``: submit, list, show, change priority / production steps, abort."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Response, status

from wms2.api.auth import AuthError, Identity, Role
from wms2.api.deps import Ctx, DbSession, Paging, Requestor, Viewer
from wms2.api.models import MAX_REASON, NO_CONTROL, PageOf, RequestDetail, RequestPatch, RequestSummary, SubmitResult
from wms2.config import Settings
from wms2.core import actions, listings
from wms2.core.views import request_detail, request_summary
from wms2.core.workflow_manager import submit_documents
from wms2.db.tables import RequestRow
from wms2.domain.enums import RequestStatus
from wms2.domain.reqmgr import FieldError, RequestImportError
from wms2.services.reqmgr import ReqMgr2Client, RequestSourceError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/requests", tags=["requests"])
SUMMARY_COLUMNS = (RequestRow.name, RequestRow.status, RequestRow.priority, RequestRow.urgent, RequestRow.request_type,
                   RequestRow.requestor, RequestRow.campaign, RequestRow.created_at, RequestRow.updated_at)
BY_NAME_KEY = "RequestName"  # a body with only this key: import that request from ReqMgr2


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
    ctx: Ctx, session: DbSession, _: Viewer, page: Paging,
    status_: Annotated[RequestStatus | None, Query(alias="status")] = None,
    campaign: Annotated[str | None, Query(max_length=200)] = None,
    requestor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    key = ("requests", page.limit, page.offset, status_, campaign, requestor)
    return ctx.cache.get(key, lambda: listings.list_requests(session, page.limit, page.offset, status_, campaign,
                                                              requestor))


def _fetch_by_name(settings: Settings, document: dict[str, Any]) -> dict[str, Any]:
    """A body holding only ``RequestName``: that request's document, fetched from ReqMgr2.

    Unknown or invalid names are the caller's input (422 naming ``RequestName``, like every import
    rejection); ReqMgr2 unreachable, refusing our credential or answering nonsense is 502."""
    name = document[BY_NAME_KEY]
    if not isinstance(name, str):
        raise RequestImportError([FieldError("RequestName", "must be a string (the request to import)")])
    try:
        with ReqMgr2Client(settings) as source:
            return source.fetch(name)
    except RequestSourceError as exc:
        if exc.caller_fault:
            raise RequestImportError([FieldError("RequestName", exc.message)]) from None
        log.warning("import of %s from ReqMgr2 failed: %s", name, exc.message)
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, exc.message) from None


@router.post("", response_model=SubmitResult, status_code=status.HTTP_201_CREATED,
             responses={200: {"model": SubmitResult, "description": "identical request already submitted"},
                        502: {"description": "import by name: ReqMgr2 unreachable or answered unusably"}})
def submit_request(
    ctx: Ctx, session: DbSession, identity: Requestor, response: Response,
    document: Annotated[dict[str, Any], Body(
        description="a full ReqMgr2 request document, or {\"RequestName\": NAME} alone to import that request"
                    " from ReqMgr2 (reqmgr2.url); either way the same validation, ownership and idempotence")],
) -> dict[str, Any]:
    if set(document) == {BY_NAME_KEY}:
        document = _fetch_by_name(ctx.settings, document)
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
