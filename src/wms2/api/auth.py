"""Authentication and roles of the REST API (design §10).

Identities come from, in order:

1. ``Authorization: Bearer <token>``: a WMS2 API token (looked up by ``sha256(token)``; the secret is
   never stored) or, when ``api.jwt_issuer`` is set and the token is a JWT, a WLCG/OIDC token
   validated against the issuer and the keys of ``api.jwt_jwks_path``;
2. the X.509 DN put in ``api.dn_header`` by a trusted front-end proxy.  The header is honoured only
   when the TCP peer is one of ``api.trusted_proxies``; from anyone else it is ignored (a client can
   write any header it likes);
3. the dashboard's ``wms2_session`` cookie (HttpOnly), set by a token login (``wms2.web``): the server
   keeps the token in memory under a random session id, so the cookie never holds the token, and the
   token is re-checked like a bearer one (a revoked token ends its sessions within 10 s).  Cookie and
   DN identities need the session's CSRF token on every state-changing call (``wms2.web.security``).

Roles are ordered ``viewer < requestor < operator``: viewers read, requestors also submit and act on
their own requests, operators do everything.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from wms2.config import ApiSettings
from wms2.db.auth_tables import ApiTokenRow
from wms2.db.base import utcnow
from wms2.db.session import Database

log = logging.getLogger(__name__)

TOKEN_PREFIX = "wms2_"
TOKEN_BYTES = 32  # 256 bits of randomness
TOKEN_CACHE_SECONDS = 10.0  # a revoked token stops working within this delay
JWT_LEEWAY_SECONDS = 60  # clock skew tolerated on exp/nbf/iat


class Role(IntEnum):
    viewer = 1
    requestor = 2
    operator = 3

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls[value]
        except KeyError:
            raise ValueError(f"role: {value!r} is not one of {', '.join(r.name for r in cls)}") from None


@dataclass(frozen=True)
class Identity:
    name: str
    role: Role
    method: str  # "token" | "jwt" | "dn"
    dn: str | None = None

    def owns(self, requestor: str, requestor_dn: str | None) -> bool:
        return requestor == self.name or (self.dn is not None and requestor_dn == self.dn)


class AuthError(Exception):
    """``status`` 401 (who are you?) or 403 (you may not)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


SESSION_COOKIE = "wms2_session"
SESSION_ID_BYTES = 32  # 256 bits: a session id cannot be guessed
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class WebSession:
    """A browser session of the dashboard: the token it logged in with, its CSRF token, its expiry."""

    id: str
    token: str
    csrf: str
    expires: float  # time.monotonic()


def cookie_value(cookie_header: str | None, name: str) -> str | None:
    """One cookie of a ``Cookie:`` header (no quoting rules needed: WMS2's values are URL-safe)."""
    if not cookie_header:
        return None
    for part in cookie_header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


class SessionStore:
    """In-memory browser sessions (one ``wms2 serve`` process; a restart logs everyone out).

    Rejected: a signed cookie carrying the token (a stolen cookie would then outlive a logout) and a
    database table (sessions are short-lived and process-local; the token itself stays the credential)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._data: dict[str, WebSession] = {}
        self._lock = threading.Lock()

    def create(self, token: str) -> WebSession:
        now = self._clock()
        session = WebSession(id=secrets.token_urlsafe(SESSION_ID_BYTES), token=token,
                             csrf=secrets.token_urlsafe(SESSION_ID_BYTES), expires=now + self.seconds)
        with self._lock:
            self._data = {k: v for k, v in self._data.items() if v.expires > now}  # drop expired ones
            self._data[session.id] = session
        return session

    def find(self, cookie_header: str | None) -> WebSession | None:
        sid = cookie_value(cookie_header, SESSION_COOKIE)
        if sid is None:
            return None
        with self._lock:
            session = self._data.get(sid)
        if session is None or session.expires <= self._clock():
            return None
        return session

    def end(self, cookie_header: str | None) -> None:
        sid = cookie_value(cookie_header, SESSION_COOKIE)
        if sid is not None:
            with self._lock:
                self._data.pop(sid, None)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, name: str, role: str, by: str,
                 expires_at: datetime | None = None) -> tuple[ApiTokenRow, str]:
    """Store a new API token; return the row and the secret (shown once, never stored)."""
    parsed = Role.parse(role)
    if not name or len(name) > 200:
        raise ValueError("name: must be 1 to 200 characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    row = ApiTokenRow(name=name, role=parsed.name, token_hash=hash_token(secret), created_by=by,
                      expires_at=expires_at)
    session.add(row)
    session.flush()
    return row, secret


def _in_networks(host: str | None, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    if host is None:
        return False
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(addr in net for net in networks)


class Authenticator:
    """Resolves the identity of one HTTP request (thread-safe; one per app)."""

    def __init__(self, settings: ApiSettings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._proxies = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]
        self._cache: dict[str, tuple[float, Identity | None]] = {}
        self._lock = threading.Lock()
        self._jwks: jwt.PyJWKSet | None = None
        self.sessions = SessionStore(settings.session_seconds)

    def identify(self, authorization: str | None, peer: str | None, headers: dict[str, str]) -> Identity:
        if authorization:
            scheme, _, credentials = authorization.partition(" ")
            if scheme.lower() != "bearer" or not credentials.strip():
                raise AuthError(401, "Authorization: expected 'Bearer <token>'")
            return self._bearer(credentials.strip())
        dn = headers.get(self.settings.dn_header.lower())
        if dn:
            if _in_networks(peer, self._proxies):
                return self._dn_identity(dn)
            log.warning("ignoring %s header from %s: not a trusted proxy", self.settings.dn_header, peer)
        session = self.sessions.find(headers.get("cookie"))
        if session is not None:
            return self._bearer(session.token)
        raise AuthError(401, "authentication required: a bearer token or a client certificate via the proxy")

    def trusted_dn(self, peer: str | None, headers: dict[str, str]) -> str | None:
        """The DN the trusted proxy vouches for (None when there is none or the peer is not a proxy)."""
        dn = headers.get(self.settings.dn_header.lower())
        return dn if dn and _in_networks(peer, self._proxies) else None

    def is_cached(self, authorization: str | None, cookie: str | None = None) -> bool:
        """True when :meth:`identify` needs no I/O: no bearer token, or an API token seen recently."""
        if not authorization:
            session = self.sessions.find(cookie)
            if session is None:
                return True
            authorization = "Bearer " + session.token
        scheme, _, credentials = authorization.partition(" ")
        token = credentials.strip()
        if scheme.lower() != "bearer" or not token:
            return True
        if self.settings.jwt_issuer and token.count(".") == 2 and not token.startswith(TOKEN_PREFIX):
            return False
        with self._lock:
            cached = self._cache.get(hash_token(token))
        return cached is not None and time.monotonic() - cached[0] < TOKEN_CACHE_SECONDS

    # -- DN --------------------------------------------------------------------------------------
    def _dn_identity(self, dn: str) -> Identity:
        role_name = self.settings.dn_roles.get(dn, self.settings.default_dn_role)
        if role_name is None:
            raise AuthError(403, f"DN {dn!r} has no WMS2 role")
        return Identity(name=dn, role=Role[role_name], method="dn", dn=dn)

    # -- bearer tokens ---------------------------------------------------------------------------
    def _bearer(self, token: str) -> Identity:
        if self.settings.jwt_issuer and token.count(".") == 2 and not token.startswith(TOKEN_PREFIX):
            return self._jwt(token)
        digest = hash_token(token)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < TOKEN_CACHE_SECONDS:
            identity = cached[1]
        else:
            identity = self._lookup(digest)
            with self._lock:
                self._cache[digest] = (now, identity)
        if identity is None:
            raise AuthError(401, "invalid, expired or revoked token")
        return identity

    def _lookup(self, digest: str) -> Identity | None:
        with self.db.session() as session:
            row = session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == digest))
            if row is None or row.revoked_at is not None:
                return None
            if row.expires_at is not None and row.expires_at <= utcnow():
                return None
            return Identity(name=row.name, role=Role[row.role], method="token")

    def forget(self) -> None:
        """Drop the token cache (after a revocation, in tests)."""
        with self._lock:
            self._cache.clear()

    # -- JWT (WLCG / OIDC) -----------------------------------------------------------------------
    def _keys(self) -> jwt.PyJWKSet:
        if self._jwks is None:
            path = self.settings.jwt_jwks_path
            if path is None:
                raise AuthError(401, "JWT validation is not configured: api.jwt_jwks_path is not set")
            self._jwks = jwt.PyJWKSet.from_dict(json.loads(Path(path).read_text()))
        return self._jwks

    def _jwt(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
            keys = self._keys()
            kid = header.get("kid")
            key = keys[kid] if kid else keys.keys[0]
            claims: dict[str, Any] = jwt.decode(
                token, key=key.key, algorithms=self.settings.jwt_algorithms, issuer=self.settings.jwt_issuer,
                audience=self.settings.jwt_audience, leeway=JWT_LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "sub"], "verify_aud": self.settings.jwt_audience is not None},
            )
        except (jwt.PyJWTError, KeyError, IndexError) as exc:
            raise AuthError(401, f"invalid token: {exc}") from None
        role = self._jwt_role(claims)
        if role is None:
            raise AuthError(403, f"token of {claims['sub']} carries no group or scope mapped to a WMS2 role")
        name = str(claims.get("preferred_username") or claims["sub"])
        return Identity(name=name, role=role, method="jwt")

    def _jwt_role(self, claims: dict[str, Any]) -> Role | None:
        groups = claims.get(self.settings.jwt_role_claim, [])
        if isinstance(groups, str):
            groups = groups.split()
        scopes = str(claims.get("scope", "")).split()
        roles = [Role[self.settings.jwt_roles[g]] for g in [*groups, *scopes] if g in self.settings.jwt_roles]
        return max(roles) if roles else None
