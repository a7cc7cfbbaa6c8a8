"""``/validations``: physics validation of a pair of requests (a background job of ``wms2 serve``).

POST queues a comparison of the two requests' registered outputs (operator role); the report (JSON and
a self-contained HTML page, served with its own strict Content-Security-Policy) is stored under the
home; ``?request=NAME`` lists the validations a request takes part in, on either side.
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

from wms2.api.context import ApiContext
from wms2.api.deps import Ctx, DbSession, Operator, Paging, Viewer
from wms2.api.models import PageOf
from wms2.core.actions import Conflict, NotFound
from wms2.db.tables import RequestRow
from wms2.db.validation_tables import ValidationRow
from wms2.domain.safety import RequestName
from wms2.validation.jobs import REPORT_JSON, ValidationRunner, create
from wms2.validation.report import REPORT_CSP

router = APIRouter(prefix="/validations", tags=["validations"])
_runner_lock = threading.Lock()
ValidationId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class ValidationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: RequestName = Field(description="reference request")
    new: RequestName = Field(description="new request, compared with the reference")


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


def _out(request: Request, row: ValidationRow, with_result: bool = False) -> dict[str, Any]:
    out = ValidationOut.model_validate(row).model_dump()
    if row.status == "done" and row.report_path:
        out["report_url"] = str(request.url_for("validation_report", validation_id=row.id).path)
        report = FsPath(row.report_path).with_name(REPORT_JSON)
        if with_result and report.is_file():
            out["result"] = json.loads(report.read_text(encoding="utf-8"))
    return out


@router.post("", response_model=ValidationOut, status_code=202)
def create_validation(request: Request, ctx: Ctx, session: DbSession, identity: Operator,
                      body: ValidationIn) -> dict[str, Any]:
    for name in (body.ref, body.new):
        if session.scalar(select(RequestRow.id).where(RequestRow.name == name)) is None:
            raise NotFound("request", name)
    runner = _runner(request, ctx)
    vid = create(ctx.db, body.ref, body.new, identity.name)
    runner.submit(vid)
    row = session.get(ValidationRow, vid)
    assert row is not None
    return _out(request, row)


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
    return {"items": [_out(request, r) for r in rows], "total": total, "limit": page.limit, "offset": page.offset}


@router.get("/{validation_id}", response_model=ValidationOut)
def get_validation(request: Request, ctx: Ctx, session: DbSession, _: Viewer,
                   validation_id: ValidationId) -> dict[str, Any]:
    _runner(request, ctx)
    row = session.get(ValidationRow, validation_id)
    if row is None:
        raise NotFound("validation", validation_id)
    return _out(request, row, with_result=True)


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
