"""The operator's web dashboard (issue 16), served by ``wms2 serve`` at ``/``.

``install(app, auth)`` mounts the page routes and the browser guard (CSRF, security headers) on the API
application; the pages read the REST API under ``/api/v1`` with the session cookie.
"""

from __future__ import annotations

from fastapi import FastAPI

from wms2.api.auth import Authenticator
from wms2.web.routes import WebState, load_static, router, template
from wms2.web.security import BrowserGuard, CsrfKey


def install(app: FastAPI, auth: Authenticator) -> None:
    key = CsrfKey()
    app.state.web = WebState(static=load_static(), csrf_key=key, login_page=template("login.html"))
    app.include_router(router)
    app.add_middleware(BrowserGuard, auth=auth, key=key)

