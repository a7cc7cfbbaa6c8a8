"""The dashboard's own routes: the page shell at ``/``, token login/logout, the session's identity and
CSRF token, and the packaged static files (never loaded from the internet).

Pages are a small static app (``static/*.js``, ES modules, no build step) that reads the REST API with
the session cookie: the API is the only source of truth, and every value reaches the page through
``textContent`` (never ``innerHTML``), so request names and log tails always render as text.
"""

from __future__ import annotations

import hashlib
import html
import secrets
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from wms2.api.auth import SESSION_COOKIE, AuthError, Identity, cookie_value
from wms2.api.context import ApiContext
from wms2.api.deps import Ctx, Viewer
from wms2.web.security import CsrfKey, csrf_for

LOGIN_COOKIE = "wms2_login"  # double-submit token of the login form (there is no session yet)
LOGIN_COOKIE_SECONDS = 600
MAX_LOGIN_BODY = 4096
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".html": "text/html; charset=utf-8", ".md": "text/plain; charset=utf-8",
                 ".svg": "image/svg+xml", ".png": "image/png", ".json": "application/json"}


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


def load_static() -> dict[str, StaticFile]:
    """Every packaged static file, read once (name -> bytes): no path from a URL ever reaches the disk."""
    out: dict[str, StaticFile] = {}
    for entry in resources.files("wms2.web").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if not entry.is_file() or suffix not in CONTENT_TYPES:
            continue
        body = entry.read_bytes()
        out[entry.name] = StaticFile(body, CONTENT_TYPES[suffix], '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return out


def template(name: str) -> Template:
    return Template(resources.files("wms2.web").joinpath("templates", name).read_text())


@dataclass
class WebState:
    static: dict[str, StaticFile]
    csrf_key: CsrfKey
    login_page: Template


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


Web = Annotated[WebState, Depends(web_state)]
router = APIRouter(include_in_schema=False)


def _headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def _peer(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _identity(ctx: ApiContext, request: Request) -> Identity | None:
    """The browser's identity from its session cookie or the proxied DN (never a bearer token here)."""
    headers = _headers(request)
    headers.pop("authorization", None)
    try:
        return await run_in_threadpool(ctx.auth.identify, None, _peer(request), headers)
    except AuthError:
        return None


def _secure(ctx: ApiContext, request: Request) -> bool:
    return request.url.scheme == "https" or ctx.settings.api.tls_certfile is not None


def _login_page(ctx: ApiContext, request: Request, web: WebState, message: str | None, status: int) -> Response:
    nonce = secrets.token_urlsafe(32)
    note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    body = web.login_page.substitute(csrf=html.escape(nonce, quote=True), message=note)
    response = HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=LOGIN_COOKIE_SECONDS, path="/login", httponly=True,
                        samesite="strict", secure=_secure(ctx, request))
    return response


@router.get("/")
async def index(ctx: Ctx, request: Request, web: Web) -> Response:
    """The dashboard shell (static: it holds no data); without a session, the login page."""
    if await _identity(ctx, request) is None:
        return RedirectResponse("/login", status_code=303)
    page = web.static["index.html"]
    return Response(page.body, media_type=page.content_type, headers={"Cache-Control": "no-store"})


@router.get("/login")
async def login_form(ctx: Ctx, request: Request, web: Web) -> Response:
    if await _identity(ctx, request) is not None:
        return RedirectResponse("/", status_code=303)
    return _login_page(ctx, request, web, None, 200)


@router.post("/login")
async def login(ctx: Ctx, request: Request, web: Web) -> Response:
    """Token login: checks the form's double-submit token, validates the API token like a bearer one, and
    sets an HttpOnly, SameSite=Strict session cookie (the token stays on the server)."""
    raw = await request.body()
    if len(raw) > MAX_LOGIN_BODY:
        return _login_page(ctx, request, web, "The form is too large.", 413)
    form = parse_qs(raw.decode("utf-8", errors="replace"), max_num_fields=10)
    given = (form.get("csrf") or [""])[0]
    expected = cookie_value(request.headers.get("cookie"), LOGIN_COOKIE) or ""
    if not expected or not secrets.compare_digest(given.encode(), expected.encode()):
        return _login_page(ctx, request, web, "The sign-in form expired; please try again.", 403)
    token = (form.get("token") or [""])[0].strip()
    try:
        identity = await run_in_threadpool(ctx.auth.identify, f"Bearer {token}", None, {}) if token else None
    except AuthError as exc:
        return _login_page(ctx, request, web, f"Sign-in refused: {exc.message}.", exc.status)
    if identity is None:
        return _login_page(ctx, request, web, "Enter an API token.", 401)
    session = ctx.auth.sessions.create(token)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(SESSION_COOKIE, session.id, max_age=int(ctx.settings.api.session_seconds), path="/",
                        httponly=True, samesite="strict", secure=_secure(ctx, request))
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(ctx: Ctx, request: Request) -> Response:
    """Ends the session (the CSRF guard already checked the token)."""
    ctx.auth.sessions.end(request.headers.get("cookie"))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/ui/session")
async def session_info(ctx: Ctx, request: Request, web: Web, identity: Viewer) -> dict[str, Any]:
    """Who the page acts as, its role (the page shows only the actions the role may take) and the CSRF token
    it must send with every state-changing call."""
    return {"name": identity.name, "role": identity.role.name, "method": identity.method,
            "csrf": csrf_for(ctx.auth, web.csrf_key, _peer(request), _headers(request)),
            "poll_seconds": ctx.settings.api.dashboard_poll_seconds}


@router.get("/static/{name}")
async def static_file(name: str, request: Request, web: Web) -> Response:
    page = web.static.get(name)
    if page is None:
        return Response("not found", status_code=404, media_type="text/plain")
    headers = {"ETag": page.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == page.etag:
        return Response(status_code=304, headers=headers)
    return Response(page.body, media_type=page.content_type, headers=headers)
