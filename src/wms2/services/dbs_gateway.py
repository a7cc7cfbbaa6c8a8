"""One door to DBS for WMS2: the real ``dbs3-client`` ``DbsApi``, retries with backoff, clear errors.

Every call goes through :meth:`DbsGateway.call`, which names the service, the call and the dataset or
block in any error.  Transient failures (connection refused or timed out, HTTP 5xx) are retried
``retries`` times with doubling waits and then raised as :class:`DbsUnavailable`; everything else (a 4xx
answer, a malformed answer, a missing credential) is raised at once as :class:`DbsCallError`.  Both are
a :class:`~wms2.services.outputs.RegistrationError` (the Output Manager records them on the block and
retries on its own schedule) and a :class:`~wms2.services.catalog.CatalogError` (planning defers the
round): the request is never failed by them.

Facts about ``dbs3-client`` 4.0.19 this module relies on (read from the installed package):

* ``DbsApi`` needs an existing cert/key pair and an existing CA directory (``X509_CERT_DIR`` or
  ``/etc/grid-security/certificates``) even for ``http://`` URLs, and reads ``os.environ['USER']`` on
  every call (``KeyError`` without it).
* It holds ONE pycurl handle, so calls are serialised with a lock; it has no timeout option, so the
  timeout is set on that handle (options set on a pycurl handle persist across requests).
* A non-JSON error body makes the client raise ``json.JSONDecodeError`` while handling the HTTP error:
  the HTTP status is then only on the chained ``RestClient`` ``HTTPError`` (``__context__``).
* An invalid JSON success body raises ``dbsClientException("Invalid url", ...)``.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from wms2.services.catalog import CatalogError
from wms2.services.outputs import RegistrationError
from wms2.services.retry import Backoff, RetriesExhausted, retrying

log = logging.getLogger(__name__)
T = TypeVar("T")
SERVICE = "DBS"
# dbs2go error code for "Block ... already exists" (dbs/errors.go: BlockAlreadyExists = 128).
BLOCK_ALREADY_EXISTS = 128
CONNECT_TIMEOUT_S = 30  # TCP+TLS connect; the whole-call limit is DbsConfig.timeout_s


class DbsError(RegistrationError, CatalogError):
    """A DBS call failed; the message names the service, the call and the dataset/block."""

    def __init__(self, message: str, *, call: str, target: str, transient: bool,
                 http_code: int | None = None, server_code: int | None = None) -> None:
        super().__init__(message)
        self.call, self.target, self.transient = call, target, transient
        self.http_code, self.server_code = http_code, server_code


class DbsUnavailable(DbsError):
    """DBS did not answer (or answered 5xx) after the retries: try again later."""


class DbsCallError(DbsError):
    """DBS answered with a permanent error (4xx, malformed answer, missing credential...)."""


@dataclass(frozen=True)
class DbsConfig:
    """How to reach DBS (``[catalog]`` settings)."""

    url: str  # reader base, .../DBSReader
    writer_url: str | None = None  # None: url with DBSReader -> DBSWriter
    cert: str | None = None
    key: str | None = None
    ca_dir: str | None = None
    timeout_s: float = 300.0
    retries: int = 2
    retry_backoff_s: float = 1.0

    @property
    def writer(self) -> str:
        if self.writer_url:
            return self.writer_url
        base = self.url.rstrip("/")
        head, _, last = base.rpartition("/")
        return f"{head}/DBSWriter" if last == "DBSReader" else base


def _http_error(exc: BaseException) -> Any | None:
    """The ``RestClient`` ``HTTPError`` behind ``exc`` (itself, or chained as cause/context)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if type(cur).__name__ == "HTTPError" and hasattr(cur, "body"):
            return cur
        cur = cur.__cause__ or cur.__context__
    return None


def _status(err: Any) -> int | None:
    code = getattr(err, "code", None)
    return code if isinstance(code, int) else None


def server_error(err: Any) -> tuple[int | None, str]:
    """(dbs2go error code, reason/message text) from an HTTP error's JSON body, when it has one."""
    body = getattr(err, "body", "") or ""
    try:
        doc = json.loads(body)
    except ValueError:
        return None, " ".join(str(body).split())[:300]
    rec = doc[0] if isinstance(doc, list) and doc and isinstance(doc[0], dict) else doc
    if not isinstance(rec, dict):
        return None, str(doc)[:300]
    inner = rec.get("error")
    if isinstance(inner, dict):
        code = inner.get("code")
        text = " ".join(str(inner.get(k) or "") for k in ("message", "reason")).strip()
        return (code if isinstance(code, int) else None), text[:500]
    return None, str(rec.get("message") or inner or rec)[:500]


def is_block_exists(exc: DbsError, block: str) -> bool:
    """Did DBS refuse an insert because ``block`` is already there (dbs2go code 128, or the reason text
    ``Block <name> already exists`` that WMAgent's DBSUploadPoller also matches)?"""
    return exc.server_code == BLOCK_ALREADY_EXISTS or f"Block {block} already exists" in str(exc)


def local_user() -> str:
    """The local account name (``USER``, else the password database), ``wms2`` when neither knows it."""
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):  # no USER/LOGNAME and no passwd entry (some containers)
        return "wms2"


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:400]}" if text else type(exc).__name__


def _classify(exc: BaseException) -> tuple[bool, int | None, int | None, str]:
    """(transient?, HTTP status, dbs2go code, description) of a failed client call."""
    name = type(exc).__name__
    http = _http_error(exc)
    if http is not None:
        status = _status(http)
        code, text = server_error(http)
        desc = f"HTTP {status}" + (f" (DBS code {code})" if code is not None else "") + (f": {text}" if text else "")
        return (status is not None and status >= 500), status, code, desc
    if name == "error" and type(exc).__module__ == "pycurl":  # connection refused, timeout, reset...
        return True, None, None, f"connection failed: {_describe(exc)}"
    if name == "dbsClientException" and getattr(exc, "reason", "") == "Invalid url":
        return False, None, None, "malformed answer: the body is not valid JSON"
    if isinstance(exc, (KeyError, TypeError, ValueError, IndexError)):  # the client's row aggregation
        return False, None, None, f"malformed answer: {_describe(exc)}"
    return False, None, None, _describe(exc)


class DbsGateway:
    """Lazy ``DbsApi`` reader and writer clients, and :meth:`call` with retries and error naming."""

    def __init__(self, config: DbsConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._sleep = sleep
        self._apis: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _make_api(self, url: str) -> Any:
        cfg = self.config
        if cfg.ca_dir:
            os.environ["X509_CERT_DIR"] = cfg.ca_dir
        os.environ.setdefault("USER", local_user())  # dbs3-client reads os.environ['USER'] on every call
        import pycurl
        from dbs.apis.dbsClient import DbsApi

        api = DbsApi(url=url, cert=cfg.cert, key=cfg.key or cfg.cert, userAgent="wms2")
        curl = api.rest_api._curl  # DbsApi has no timeout option; the handle keeps options across calls
        curl.setopt(pycurl.CONNECTTIMEOUT, min(CONNECT_TIMEOUT_S, max(1, int(cfg.timeout_s))))
        curl.setopt(pycurl.TIMEOUT, max(1, int(cfg.timeout_s)))
        return api

    def _api(self, writer: bool) -> Any:
        url = self.config.writer if writer else self.config.url
        api = self._apis.get(url)
        if api is None:
            api = self._apis[url] = self._make_api(url)
        return api

    def call(self, call: str, target: str, fn: Callable[[Any], T], *, writer: bool = False) -> T:
        """``fn(api)`` with retries on transient failures; errors name DBS, ``call`` and ``target``."""
        url = self.config.writer if writer else self.config.url

        def attempt() -> T:
            with self._lock:
                return fn(self._api(writer))

        def triage(exc: Exception) -> str:
            transient, status, code, desc = _classify(exc)
            if not transient:
                raise DbsCallError(f"{SERVICE} {call} {target}: {desc} (at {url})", call=call, target=target,
                                   transient=False, http_code=status, server_code=code) from exc
            return desc

        backoff = Backoff(self.config.retries, self.config.retry_backoff_s)
        try:
            return retrying(attempt, backoff, triage, what=f"{SERVICE} {call} {target}", log=log, sleep=self._sleep)
        except RetriesExhausted as exc:
            raise DbsUnavailable(f"{SERVICE} {call} {target}: unavailable at {url} after {exc.attempts} attempt(s): "
                                 f"{exc.last}", call=call, target=target, transient=True) from None
