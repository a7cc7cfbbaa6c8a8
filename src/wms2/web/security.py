"""Browser-facing protections of ``wms2 serve``: CSRF on every state-changing call made with a browser's
ambient credentials, and strict security headers on the dashboard's pages.

CSRF rule (one place, every route, API included):

* a call carrying ``Authorization`` is a script's: browsers never attach that header on their own, so a
  forged cross-site request cannot carry it — no CSRF token needed;
* a call authenticated by the dashboard's session cookie must carry the session's token in
  ``X-CSRF-Token``;
* a call authenticated by a proxied DN must carry the DN's token when it comes from a browser (it has an
  ``Origin``, a ``Sec-Fetch-Site`` or a ``Cookie`` header: browsers send one of them on every POST); plain
  command-line clients behind the proxy are unaffected.

A form post (which cannot set a header) is therefore always refused with 403.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wms2.api.auth import CSRF_HEADER, Authenticator

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_PATH = "/login"  # protected by its own double-submit token (there is no session yet)
API_PATH = "/api/"
# The dashboard loads only its own files: no inline script or style, no other origin, no framing.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
PAGE_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
COMMON_HEADERS = ((b"x-content-type-options", b"nosniff"),)
BROWSER_MARKERS = ("origin", "sec-fetch-site", "cookie")


class CsrfKey:
    """Per-process secret for the CSRF tokens of proxied DNs (stateless: HMAC of the DN)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def for_dn(self, dn: str) -> str:
        return hmac.new(self._key, dn.encode(), hashlib.sha256).hexdigest()


def expected_csrf(auth: Authenticator, key: CsrfKey, peer: str | None, headers: dict[str, str]) -> str | None:
    """The CSRF token this call must carry, or None when it needs none (see the module docstring)."""
    if headers.get("authorization"):
        return None
    dn = auth.trusted_dn(peer, headers)
    if dn is not None:
        return key.for_dn(dn) if any(m in headers for m in BROWSER_MARKERS) else None
    session = auth.sessions.find(headers.get("cookie"))
    return session.csrf if session is not None else None


def csrf_for(auth: Authenticator, key: CsrfKey, peer: str | None, headers: dict[str, str]) -> str | None:
    """The token to hand to the page of this caller (session or DN identity), None for bearer callers."""
    if headers.get("authorization"):
        return None
    dn = auth.trusted_dn(peer, headers)
    if dn is not None:
        return key.for_dn(dn)
    session = auth.sessions.find(headers.get("cookie"))
    return session.csrf if session is not None else None


class BrowserGuard:
    """Pure ASGI middleware: refuses unsafe calls without the right CSRF token, adds security headers."""

    def __init__(self, app: ASGIApp, auth: Authenticator, key: CsrfKey) -> None:
        self.app = app
        self.auth = auth
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if scope["method"] in UNSAFE_METHODS and path != LOGIN_PATH:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
            peer = scope["client"][0] if scope.get("client") else None
            expected = expected_csrf(self.auth, self.key, peer, headers)
            given = headers.get(CSRF_HEADER.lower(), "")
            if expected is not None and not hmac.compare_digest(given.encode(), expected.encode()):
                await _refuse(send)
                return
        extra = COMMON_HEADERS if path.startswith(API_PATH) else COMMON_HEADERS + PAGE_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(send: Send) -> None:
    body = json.dumps({"status": 403, "detail": f"missing or wrong CSRF token ({CSRF_HEADER} header)",
                       "errors": [{"field": f"header.{CSRF_HEADER}", "message": "required for this session"}]}).encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *COMMON_HEADERS]})
    await send({"type": "http.response.body", "body": body})
