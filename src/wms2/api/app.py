"""The FastAPI application: ``create_app(settings, db, lifecycle=None)``.

Every endpoint is a plain (sync) function: FastAPI runs it in its thread pool, so database work and
file parsing never block the event loop.  A small ASGI middleware times every request for the
latency histogram and refuses bodies larger than ``api.max_body_bytes``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wms2 import web
from wms2.api import errors
from wms2.api.auth import Authenticator
from wms2.api.cache import TtlCache
from wms2.api.context import ApiContext
from wms2.api.metrics import ApiMetrics
from wms2.api.routers import admission, dags, dashboard, operator, requests, sites, system, validations, workflows
from wms2.config import Settings
from wms2.core.lifecycle import LifecycleManager
from wms2.db.session import Database
from wms2.engines.base import Engine

API_PREFIX = "/api/v1"


class _Instrument:
    """Latency histogram per route template and body-size guard (pure ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp, ctx: ApiContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        limit = self.ctx.settings.api.max_body_bytes
        if length is not None and length.isdigit() and int(length) > limit:
            await _too_large(send, limit)
            return
        if b"%00" in scope.get("query_string", b"") or "\x00" in scope.get("path", ""):
            await _reject_nul(send)
            return
        started = time.perf_counter()
        status = [500]
        self.ctx.foreground.begin()  # the lifecycle, in this process, lets it finish first (bounded)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.ctx.foreground.end()
            route = scope.get("route")
            template = getattr(route, "path", None)
            if template is None:
                template = "unmatched"
            elif not template.startswith(API_PREFIX) and getattr(route, "include_in_schema", True):
                template = API_PREFIX + template  # (the dashboard's pages keep their own paths)
            self.ctx.metrics.observe(scope["method"], template, status[0], time.perf_counter() - started)


async def _too_large(send: Send, limit: int) -> None:
    body = (b'{"status": 413, "detail": "request body larger than api.max_body_bytes (' + str(limit).encode()
            + b')", "errors": [{"field": "body", "message": "too large"}]}')
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _reject_nul(send: Send) -> None:
    body = (b'{"status": 422, "detail": "the URL contains a NUL character", '
            b'"errors": [{"field": "query", "message": "NUL characters are not allowed"}]}')
    await send({"type": "http.response.start", "status": 422,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _lifespan(threads: int) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Few endpoint threads: requests then queue fairly on the event loop instead of convoying on the GIL.
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield

    return lifespan


def create_app(settings: Settings, db: Database, lifecycle: LifecycleManager | None = None,
               engine_factory: Callable[[], Engine] | None = None) -> FastAPI:
    cache = TtlCache(settings.api.aggregate_cache_seconds)
    ctx = ApiContext(settings=settings, db=db, lifecycle=lifecycle, auth=Authenticator(settings.api, db),
                     metrics=ApiMetrics(db, settings, cache), engine_factory=engine_factory, cache=cache)
    app = FastAPI(
        lifespan=_lifespan(settings.api.worker_threads),
        title="WMS2",
        summary="Workload management for CMS central production: the operator API (design §10)",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    if lifecycle is not None:  # same process (wms2 serve): the cycle lets the API's requests go first
        ctx.foreground.max_wait_s = ctx.settings.lifecycle.api_yield_max_seconds
        lifecycle.foreground = ctx.foreground
    errors.install(app)
    _root_redirects(app)
    for module in (requests, operator, workflows, dags, admission, sites, system, dashboard, validations):
        app.include_router(module.router, prefix=API_PREFIX)
    web.install(app, ctx.auth)  # the dashboard at / (its CSRF guard covers the API's writes too)
    app.add_middleware(_Instrument, ctx=ctx)
    return app


def _root_redirects(app: FastAPI) -> None:
    """``/docs`` and ``/openapi.json`` (FastAPI's usual places, which people type) lead to the versioned ones."""
    for short, target in (("/docs", f"{API_PREFIX}/docs"), ("/openapi.json", f"{API_PREFIX}/openapi.json")):
        def redirect(_target: str = target) -> RedirectResponse:
            return RedirectResponse(_target)

        app.add_api_route(short, redirect, methods=["GET"], include_in_schema=False, name=f"redirect {short}")


def ctx_of(app: Any) -> ApiContext:
    ctx: ApiContext = app.state.ctx
    return ctx
