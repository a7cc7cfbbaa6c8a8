"""ReqMgr2 client: fetch one request document by name (``cms-formats.md`` §1.1).

``GET {reqmgr2.url}/request?name=<RequestName>`` with ``Accept: application/json`` answers
``{"result": [{"<RequestName>": {...document...}}]}`` (or, with ``common_dict=1``, ``{"result": [{doc}]}``).
An unknown name answers an empty ``result`` (``[]`` or ``[{}]``) or HTTP 404.

Credentials, any combination: an X.509 certificate + key or an RFC-3820 proxy (``cert_file`` alone), and a
bearer token (``token_file``, re-read at every call because token agents rotate it; never logged, never in
an error message).  The name is validated before any HTTP (the rules of :func:`wms2.domain.safety.check_name`).
Retries: 5xx answers and connection failures only, with doubling back-off; a slow server (read timeout) is
not retried, so one import waits at most ``timeout_s`` x attempts.
"""

from __future__ import annotations

import json
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from wms2.config import ReqMgr2Settings, Settings
from wms2.domain.safety import check_name
from wms2.services.retry import Backoff, RetriesExhausted, retrying

log = logging.getLogger(__name__)

SERVICE = "ReqMgr2"
REQUEST_PATH = "/request"
SNIPPET_CHARS = 80  # how much of a non-JSON answer an error message quotes
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
# Connection-level failures worth another attempt (a read timeout is not: the server is slow, not gone).
RETRYABLE_ERRORS: tuple[type[httpx.HTTPError], ...] = (
    httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError,
)


class RequestSourceError(RuntimeError):
    """A request document cannot be obtained from ReqMgr2.

    ``caller_fault`` tells who must act: True when the name is invalid or unknown (the caller's input,
    reported against the field ``RequestName``), False when ReqMgr2 or this service's configuration is at
    fault (unreachable, refused our credential, answered something unusable)."""

    caller_fault = False

    def __init__(self, message: str, *, url: str, name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.name = name


class RequestNameInvalid(RequestSourceError):
    """The name breaks the RequestName rules; nothing was sent."""

    caller_fault = True


class RequestNotFound(RequestSourceError):
    """ReqMgr2 has no request of that name."""

    caller_fault = True


class RequestSourceUnavailable(RequestSourceError):
    """Cannot connect, timed out, or 5xx after every retry."""


class _ServerError(Exception):
    """ReqMgr2 answered 5xx: worth another attempt."""


class RequestSourceRefused(RequestSourceError):
    """ReqMgr2 answered 401/403 to this service's credential."""


class RequestSourceBadAnswer(RequestSourceError):
    """An answer that is not a usable request document (not JSON, wrong shape, other name, too large)."""


class RequestSourceMisconfigured(RequestSourceError):
    """The ``reqmgr2`` settings cannot work (missing certificate, unreadable token, ...)."""


def _ssl_context(cfg: ReqMgr2Settings) -> ssl.SSLContext:
    url = cfg.url
    ca = cfg.ca_path
    if ca is None:
        context = ssl.create_default_context()
    elif ca.is_dir():  # e.g. /etc/grid-security/certificates
        context = ssl.create_default_context(capath=str(ca))
    elif ca.is_file():
        context = ssl.create_default_context(cafile=str(ca))
    else:
        raise RequestSourceMisconfigured(f"reqmgr2.ca_path: {ca} is neither a file nor a directory", url=url)
    if cfg.cert_file is not None:
        try:
            context.load_cert_chain(str(cfg.cert_file), str(cfg.key_file) if cfg.key_file else None)
        except (OSError, ssl.SSLError) as exc:
            which = "reqmgr2.cert_file/key_file" if cfg.key_file else "reqmgr2.cert_file"
            raise RequestSourceMisconfigured(f"{which}: cannot load {cfg.cert_file}: {exc}", url=url) from None
    elif cfg.key_file is not None:
        raise RequestSourceMisconfigured("reqmgr2.key_file is set without reqmgr2.cert_file", url=url)
    return context


def describe_credentials(cfg: ReqMgr2Settings) -> str:
    """Which credential a call presents (file names only, never the token)."""
    used = []
    if cfg.cert_file is not None:
        used.append(f"X.509 certificate {cfg.cert_file}" + (f" with key {cfg.key_file}" if cfg.key_file else ""))
    if cfg.token_file is not None:
        used.append(f"bearer token from {cfg.token_file}")
    return " and ".join(used) or "no credential (neither reqmgr2.cert_file nor reqmgr2.token_file is set)"


def _read_token(path: Path, url: str) -> str:
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise RequestSourceMisconfigured(f"reqmgr2.token_file: cannot read {path}: {exc.strerror}", url=url) from None
    if not token:
        raise RequestSourceMisconfigured(f"reqmgr2.token_file: {path} is empty", url=url)
    if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        raise RequestSourceMisconfigured(f"reqmgr2.token_file: {path} does not hold a single token", url=url)
    return token


@dataclass(frozen=True)
class _Answer:
    """One HTTP answer: status and (bounded) body."""

    status: int
    body: bytes
    content_type: str


class ReqMgr2Client:
    """``fetch(name)`` returns the ReqMgr2 request document of that name, or raises :class:`RequestSourceError`."""

    def __init__(self, settings: Settings | ReqMgr2Settings) -> None:
        self.cfg = settings.reqmgr2 if isinstance(settings, Settings) else settings
        self.base = self.cfg.url.rstrip("/")
        self.request_url = f"{self.base}{REQUEST_PATH}"
        self._client: httpx.Client | None = None  # built at the first HTTP call (a bad name never needs it)

    def _connection(self) -> httpx.Client:
        if self._client is None:
            parts = urlsplit(self.base)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise RequestSourceMisconfigured(f"reqmgr2.url: {self.cfg.url!r} is not an http(s) URL",
                                                 url=self.base)
            if self.cfg.token_file is not None and parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
                raise RequestSourceMisconfigured(
                    f"reqmgr2.url: {self.base} is plain http; a bearer token is only sent over https", url=self.base)
            self._client = httpx.Client(timeout=self.cfg.timeout_s, verify=_ssl_context(self.cfg))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> ReqMgr2Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- public --------------------------------------------------------------------------------------------
    def fetch(self, name: str) -> dict[str, Any]:
        try:
            check_name(name)
        except ValueError as exc:
            raise RequestNameInvalid(f"RequestName {name!r} {exc}", url=self.request_url, name=name) from None
        self._connection()  # configuration errors first (before the token is read)
        headers = {"Accept": "application/json"}
        if self.cfg.token_file is not None:
            headers["Authorization"] = f"Bearer {_read_token(self.cfg.token_file, self.request_url)}"
        answer = self._get_with_retries(name, headers)
        what = f"{SERVICE} {self.request_url}?name={name}"
        if answer.status == httpx.codes.NOT_FOUND:
            raise RequestNotFound(f"{SERVICE} has no request named {name} (HTTP 404 from {self.request_url})",
                                  url=self.request_url, name=name)
        if answer.status in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
            raise RequestSourceRefused(
                f"{what}: HTTP {answer.status}: {SERVICE} refused {describe_credentials(self.cfg)}",
                url=self.request_url, name=name)
        if answer.status != httpx.codes.OK:
            raise RequestSourceBadAnswer(f"{what}: unexpected HTTP {answer.status}", url=self.request_url, name=name)
        doc = extract_document(_parse_json(answer, what, self.request_url, name), name, what, self.request_url)
        log.info("fetched request %s from %s (%d bytes)", name, self.request_url, len(answer.body))
        return doc

    # -- HTTP ----------------------------------------------------------------------------------------------
    def _get_with_retries(self, name: str, headers: dict[str, str]) -> _Answer:
        def attempt() -> _Answer:
            answer = self._get_once(name, headers)
            if answer.status >= httpx.codes.INTERNAL_SERVER_ERROR:
                raise _ServerError(f"HTTP {answer.status}")
            return answer

        def triage(exc: Exception) -> str:
            if isinstance(exc, _ServerError):
                return str(exc)
            if isinstance(exc, RETRYABLE_ERRORS):
                return f"cannot connect: {type(exc).__name__}: {exc}"
            if isinstance(exc, httpx.HTTPError):
                raise RequestSourceUnavailable(f"{SERVICE} at {self.request_url}: {type(exc).__name__}: {exc}",
                                               url=self.request_url, name=name) from None
            raise exc

        try:
            return retrying(attempt, Backoff(self.cfg.retries, self.cfg.retry_backoff_s), triage,
                            what=self.request_url, log=log)
        except RetriesExhausted as exc:
            raise RequestSourceUnavailable(
                f"{SERVICE} at {self.request_url} unavailable after {exc.attempts} attempt(s): {exc.last}",
                url=self.request_url, name=name) from None

    def _get_once(self, name: str, headers: dict[str, str]) -> _Answer:
        limit = self.cfg.max_response_bytes
        with self._connection().stream("GET", self.request_url, params={"name": name}, headers=headers) as resp:
            content_type = resp.headers.get("content-type", "")
            if resp.status_code != httpx.codes.OK:
                return _Answer(resp.status_code, b"", content_type)
            declared = resp.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise self._too_large(name, f"declares {declared} bytes")
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise self._too_large(name, "is longer")
                chunks.append(chunk)
            return _Answer(resp.status_code, b"".join(chunks), content_type)

    def _too_large(self, name: str, how: str) -> RequestSourceBadAnswer:
        return RequestSourceBadAnswer(
            f"{SERVICE} {self.request_url}?name={name}: answer {how} than reqmgr2.max_response_bytes"
            f" ({self.cfg.max_response_bytes})", url=self.request_url, name=name)


def _parse_json(answer: _Answer, what: str, url: str, name: str) -> Any:
    try:
        return json.loads(answer.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        snippet = answer.body[:SNIPPET_CHARS].decode("utf-8", "replace")
        raise RequestSourceBadAnswer(
            f"{what}: answer is not JSON ({exc}; content-type {answer.content_type or 'none'}; starts {snippet!r})",
            url=url, name=name) from None


def extract_document(body: Any, name: str, what: str, url: str) -> dict[str, Any]:
    """The document named ``name`` from a ``{"result": [...]}`` envelope (either ReqMgr2 layout)."""
    if not isinstance(body, dict) or not isinstance(body.get("result"), list):
        raise RequestSourceBadAnswer(f"{what}: expected a JSON object {{\"result\": [...]}}", url=url, name=name)
    found: list[tuple[str, dict[str, Any]]] = []
    for i, item in enumerate(body["result"]):
        if not isinstance(item, dict):
            raise RequestSourceBadAnswer(f"{what}: result[{i}] is a {type(item).__name__}, not an object",
                                         url=url, name=name)
        if isinstance(item.get("RequestName"), str):  # common_dict=1 layout: the document itself
            found.append((f"result[{i}]", item))
            continue
        for key, doc in item.items():
            if not isinstance(doc, dict):
                raise RequestSourceBadAnswer(f"{what}: result[{i}].{key} is a {type(doc).__name__}, not a document",
                                             url=url, name=name)
            found.append((f"result[{i}].{key}", doc))
    if not found:
        raise RequestNotFound(f"{SERVICE} has no request named {name} (empty result from {url})", url=url, name=name)
    for _where, doc in found:
        if doc.get("RequestName") == name:
            return doc
    where, doc = found[0]
    raise RequestSourceBadAnswer(
        f"{what}: asked for {name} but {where} has RequestName {doc.get('RequestName')!r}"
        + (f" (and {len(found) - 1} more document(s))" if len(found) > 1 else ""), url=url, name=name)
