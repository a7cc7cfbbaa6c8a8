"""FastAPI dependencies: context, database session, identity and role checks, paging."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from wms2.api.auth import AuthError, Identity, Role
from wms2.api.context import ApiContext
from wms2.core.actions import InvalidValue

bearer = HTTPBearer(auto_error=False, description="WMS2 API token or WLCG/OIDC JWT")


async def get_ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(get_ctx)]


def _finish(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def get_session(ctx: Ctx) -> AsyncIterator[Session]:
    """One unit of work per HTTP request: committed when the endpoint returns (before the response is
    sent), rolled back on error.  Creating a session does no I/O; the commit runs in the thread pool."""
    session = Session(ctx.db.engine, expire_on_commit=False)
    try:
        yield session
    except BaseException:
        await run_in_threadpool(_finish, session, False)
        raise
    if session.get_transaction() is None and not session.new and not session.dirty and not session.deleted:
        session.close()  # never touched the database (a cached answer): no I/O, no thread hop
        return
    await run_in_threadpool(_finish, session, True)


DbSession = Annotated[Session, Depends(get_session, scope="function")]


async def get_identity(request: Request, ctx: Ctx,
                       credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Identity:
    authorization = request.headers.get("authorization")
    peer = request.client.host if request.client else None
    headers = {k.lower(): v for k, v in request.headers.items()}
    if ctx.auth.is_cached(authorization):  # no I/O: stay on the event loop
        identity = ctx.auth.identify(authorization, peer, headers)
    else:  # token lookup in the database or JWT validation: in the thread pool
        identity = await run_in_threadpool(ctx.auth.identify, authorization, peer, headers)
    request.state.identity = identity
    return identity


def require(role: Role) -> Callable[[Identity], Awaitable[Identity]]:
    async def check(identity: Annotated[Identity, Depends(get_identity)]) -> Identity:
        if identity.role < role:
            raise AuthError(403, f"{identity.name} is {identity.role.name}; this needs the {role.name} role")
        return identity

    return check


Viewer = Annotated[Identity, Depends(require(Role.viewer))]
Requestor = Annotated[Identity, Depends(require(Role.requestor))]
Operator = Annotated[Identity, Depends(require(Role.operator))]


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


async def get_page(ctx: Ctx,
             limit: Annotated[int | None, Query(ge=1, description="page size (default, maximum: settings)")] = None,
             offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> Page:
    api = ctx.settings.api
    if limit is not None and limit > api.max_page_size:
        raise InvalidValue("query.limit", f"must be <= {api.max_page_size} (api.max_page_size)")
    return Page(limit=limit or api.default_page_size, offset=offset)


Paging = Annotated[Page, Depends(get_page)]
