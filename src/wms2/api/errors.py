"""JSON error bodies: ``{"detail": message, "errors": [{"field": ..., "message": ...}]}``.

422 validation (the field at fault), 404 unknown entity, 409 action invalid in the current status,
401/403 authentication and roles, 503 engine or database unavailable (with ``Retry-After``), 409 for a
write that lost a race (a unique name taken meanwhile), 500 never leaks a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from wms2.api.auth import AuthError
from wms2.core.actions import Conflict, EngineUnavailable, InvalidValue, NotFound
from wms2.domain.reqmgr import RequestImportError
from wms2.domain.transitions import IllegalTransition

log = logging.getLogger(__name__)


def error_body(status: int, detail: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"status": status, "detail": detail, "errors": errors or []}


def _json(status: int, detail: str, errors: list[dict[str, str]] | None = None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, detail, errors), status_code=status, headers=headers)


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc) or "body"


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": _loc(e.get("loc", ())), "message": str(e.get("msg", "invalid"))} for e in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
    return _json(422, detail, errors)


async def _import_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestImportError)
    errors = [{"field": e.field, "message": e.message} for e in exc.errors]
    return _json(422, str(exc), errors)


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidValue)
    return _json(422, str(exc), [{"field": exc.field, "message": exc.message}])


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    return _json(404, str(exc))


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    return _json(409, str(exc))


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    return _json(503, str(exc))


async def _auth(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return _json(exc.status, exc.message, headers=headers)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
        # FastAPI's body parsing gave up (a hostile nesting depth): the caller's document is at fault,
        # so 422 naming the body, as for any other document that is not valid JSON.
        return _json(422, "body: nested too deeply", [{"field": "body", "message": "nested too deeply"}])
    return _json(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    log.info("database refused a value on %s %s: %s", request.method, request.url.path, exc)
    return _json(422, "a value cannot be stored (out of range or invalid characters)",
                 [{"field": "body", "message": str(getattr(exc, "orig", exc)).splitlines()[0]}])


DEFAULT_RETRY_AFTER_S = 30  # when the app has no settings (never in the service): ApiSettings' default


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database cannot be reached (down, refusing connections, pool exhausted, locked): the request
    may succeed later, so 503 with Retry-After, never a 500.  The driver's message goes to the log only."""
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path,
                str(getattr(exc, "orig", exc)).splitlines()[0] if str(exc) else type(exc).__name__)
    ctx = getattr(request.app.state, "ctx", None)
    retry = ctx.settings.api.database_retry_after_s if ctx is not None else DEFAULT_RETRY_AFTER_S
    return _json(503, f"the database is unavailable ({type(exc).__name__}); retry in {retry} s"
                      " (the server log has the cause)", headers={"Retry-After": str(retry)})


async def _integrity(request: Request, exc: Exception) -> JSONResponse:
    log.info("integrity error on %s %s: %s", request.method, request.url.path, exc)
    return _json(409, "a concurrent change conflicts with this one (for example the same name was just"
                      " stored); nothing was changed; read the current state and retry")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _json(500, f"internal error ({type(exc).__name__}); see the server log")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(RequestImportError, _import_error)
    app.add_exception_handler(InvalidValue, _invalid)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(IllegalTransition, _conflict)
    app.add_exception_handler(EngineUnavailable, _unavailable)
    app.add_exception_handler(AuthError, _auth)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DataError, _data_error)
    for unavailable in (OperationalError, InterfaceError, PoolTimeoutError):
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(Exception, _unexpected)
