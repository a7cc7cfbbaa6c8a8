"""``/validations``: physics validation of a pair of requests (a background job of ``wms2 serve``).

POST queues a comparison of the two requests' registered outputs (operator role; both requests must
exist, differ and have registered output files, else 422 naming ``ref`` or ``new``); the report (JSON
and a self-contained HTML page, served with its own strict Content-Security-Policy) is stored under the
home; ``?request=NAME`` lists the validations a request takes part in, on either side; a running
validation reports its progress, a queued one its place in the queue; ``/candidates`` lists the requests
that have registered outputs (what the dashboard offers as the other side).
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from wms2.api.context import ApiContext
from wms2.api.deps import Ctx, DbSession, Operator, Paging, Viewer
from wms2.api.models import MAX_REASON, NO_CONTROL, PageOf
from wms2.core.actions import Conflict, InvalidValue, NotFound
from wms2.db.tables import RequestRow
from wms2.db.validation_tables import ValidationRow
from wms2.domain.safety import RequestName
from wms2.validation.inputs import RegisteredOutput, registered_outputs
from wms2.validation.jobs import REPORT_JSON, ValidationRunner, create, reason_of
from wms2.validation.report import REPORT_CSP

router = APIRouter(prefix="/validations", tags=["validations"])
_runner_lock = threading.Lock()
ValidationId = Annotated[int, Path(ge=1, le=2**31 - 1)]
CANDIDATES_MAX = 200  # requests offered as the other side of a validation, newest first


class ValidationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: RequestName = Field(description="reference request")
    new: RequestName = Field(description="new request, compared with the reference")
    reason: str | None = Field(None, min_length=1, max_length=MAX_REASON, pattern=NO_CONTROL,
                               description="why (shown with the validation; the dashboard asks for it)")


class ProgressOut(BaseModel):
    stage: str = Field(description="headers (files read) | scan (entry ranges compared)")
    done: int
    total: int


class CandidateOut(BaseModel):
    name: str
    status: str
    request_type: str
    campaign: str | None = None
    tiers: list[str] = Field(description="output tiers with registered files")
    files: int = Field(description="valid registered output files")
    bytes: int


class CandidatesOut(BaseModel):
    items: list[CandidateOut] = Field(description="requests with registered outputs, newest first")
    request: CandidateOut | None = Field(None, description="the ?request= one (excluded from items); null when it"
                                                           " has no registered output")


class ValidationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    ref: str
    new: str
    status: str = Field(description="queued | running | done | failed")
    created_by: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    verdict: str | None = Field(None, description="identical | compatible | different (when done)")
    error: str | None = None
    report_url: str | None = Field(None, description="the HTML report (when done)")
    reason: str | None = Field(None, description="why it was started")
    progress: ProgressOut | None = Field(None, description="while running in this server")
    queue_position: int | None = Field(None, description="while queued: 1 = the next to run")
    result: dict[str, Any] | None = Field(None, description="the full JSON report (single-item GET only)")


def _runner(request: Request, ctx: ApiContext) -> ValidationRunner:
    """The app's runner thread, started on first use (it also re-queues unfinished validations)."""
    with _runner_lock:
        runner = getattr(request.app.state, "validation_runner", None)
        if runner is None:
            runner = ValidationRunner(ctx.settings, ctx.db)
            runner.start()
            request.app.state.validation_runner = runner
        return runner


def _out(request: Request, ctx: ApiContext, row: ValidationRow, with_result: bool = False) -> dict[str, Any]:
    out = ValidationOut.model_validate(row).model_dump()
    out["reason"] = reason_of(ctx.settings, row.id)
    runner: ValidationRunner | None = getattr(request.app.state, "validation_runner", None)
    if runner is not None and row.status in ("queued", "running"):
        progress = runner.progress(row.id)
        out["progress"] = None if progress is None else vars(progress)
        out["queue_position"] = runner.queue_position(row.id)
    if row.status == "done" and row.report_path:
        out["report_url"] = str(request.url_for("validation_report", validation_id=row.id).path)
        report = FsPath(row.report_path).with_name(REPORT_JSON)
        if with_result and report.is_file():
            out["result"] = json.loads(report.read_text(encoding="utf-8"))
    return out


def _candidate(name: str, status: str, request_type: str, campaign: str | None, datasets: list[str],
               registered: dict[str, RegisteredOutput]) -> CandidateOut | None:
    found = [registered[d] for d in datasets if d in registered]
    if not found:
        return None
    return CandidateOut(name=name, status=str(status), request_type=request_type, campaign=campaign,
                        tiers=sorted({o.dataset.rsplit("/", 1)[-1] for o in found}),
                        files=sum(o.files for o in found), bytes=sum(o.bytes for o in found))


def _check_side(session: Session, field: str, name: str) -> None:
    """422 naming ``field`` when the request is unknown or has no registered output file."""
    datasets = session.scalar(select(RequestRow.output_datasets).where(RequestRow.name == name))
    if datasets is None:
        raise InvalidValue(field, f"no request named {name}")
    if not registered_outputs(session, datasets):
        raise InvalidValue(field, f"request {name} has no registered output file yet (outputs: "
                                  f"{', '.join(datasets) or 'none'})")


@router.post("", response_model=ValidationOut, status_code=202)
def create_validation(request: Request, ctx: Ctx, session: DbSession, identity: Operator,
                      body: ValidationIn) -> dict[str, Any]:
    if body.ref == body.new:
        raise InvalidValue("new", f"the same request as ref ({body.ref}): choose another request")
    _check_side(session, "ref", body.ref)
    _check_side(session, "new", body.new)
    runner = _runner(request, ctx)
    vid = create(ctx.db, body.ref, body.new, identity.name, body.reason, ctx.settings)
    runner.submit(vid)
    row = session.get(ValidationRow, vid)
    assert row is not None
    return _out(request, ctx, row)


@router.get("", response_model=PageOf[ValidationOut])
def list_validations(request: Request, ctx: Ctx, session: DbSession, _: Viewer, page: Paging,
                     request_name: Annotated[str | None, Query(alias="request", max_length=200)] = None,
                     ) -> dict[str, Any]:
    _runner(request, ctx)
    query = select(ValidationRow)
    if request_name:
        query = query.where(or_(ValidationRow.ref == request_name, ValidationRow.new == request_name))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(ValidationRow.id.desc()).limit(page.limit).offset(page.offset))
    return {"items": [_out(request, ctx, r) for r in rows], "total": total, "limit": page.limit, "offset": page.offset}


@router.get("/candidates", response_model=CandidatesOut)
def validation_candidates(session: DbSession, _: Viewer,
                          request_name: Annotated[str | None, Query(alias="request", max_length=200)] = None,
                          q: Annotated[str | None, Query(max_length=200, description="part of the name")] = None,
                          limit: Annotated[int, Query(ge=1, le=CANDIDATES_MAX)] = CANDIDATES_MAX,
                          ) -> dict[str, Any]:
    """Requests with registered output files (one grouped catalog query, then the requests' column-only
    rows newest first), for choosing the other side of a validation."""
    registered = registered_outputs(session)
    items: list[CandidateOut] = []
    this: CandidateOut | None = None
    if registered:
        rows = session.execute(select(RequestRow.name, RequestRow.status, RequestRow.request_type, RequestRow.campaign,
                                      RequestRow.output_datasets).order_by(RequestRow.id.desc()))
        needle = (q or "").lower()
        for name, status, request_type, campaign, datasets in rows:
            if len(items) >= limit and (request_name is None or this is not None):
                break
            if name != request_name and (len(items) >= limit or needle not in name.lower()):
                continue
            found = _candidate(name, status, request_type, campaign, datasets or [], registered)
            if found is None:
                continue
            if name == request_name:
                this = found
            else:
                items.append(found)
    return {"items": items, "request": this}


@router.get("/{validation_id}", response_model=ValidationOut)
def get_validation(request: Request, ctx: Ctx, session: DbSession, _: Viewer, validation_id: ValidationId,
                   result: Annotated[bool, Query(description="include the full JSON report when done")] = True,
                   ) -> dict[str, Any]:
    _runner(request, ctx)
    row = session.get(ValidationRow, validation_id)
    if row is None:
        raise NotFound("validation", validation_id)
    return _out(request, ctx, row, with_result=result)


@router.get("/{validation_id}/report", response_class=HTMLResponse, name="validation_report")
def validation_report(session: DbSession, _: Viewer, validation_id: ValidationId) -> HTMLResponse:
    """The self-contained HTML report (no script; inline style allowed by hash, plots as data: URIs)."""
    row = session.get(ValidationRow, validation_id)
    if row is None:
        raise NotFound("validation", validation_id)
    if row.status != "done" or not row.report_path:
        raise Conflict(f"validation {validation_id} is {row.status}: no report yet")
    path = FsPath(row.report_path)
    if not path.is_file():
        raise NotFound("report of validation", validation_id)
    return HTMLResponse(path.read_text(encoding="utf-8"),
                        headers={"Content-Security-Policy": REPORT_CSP})
