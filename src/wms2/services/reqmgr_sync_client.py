"""ReqMgr2 calls of the live sync: list a team's requests, read one, write a status or properties.

Authentication as ReqMgr2 expects it: in production the X.509 client certificate (``reqmgr2.cert_file``
/ ``key_file``, through cmsweb's front-end); on a local ReqMgr2 without front-end, the ``cms-auth*``
headers the front-end would add, signed with the HMAC key ReqMgr2 trusts (``reqmgr2.frontend_hmac_key_file``,
WMCore ``REST/Auth.py``).  Nothing is hard-coded: DN and roles come from the settings.

One attempt per call, with ``reqmgr2.sync_timeout_s``: the sync retries across lifecycle cycles with
back-off (``wms2.core.reqmgr_sync``), so a ReqMgr2 that is down never holds a cycle for long.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from wms2.config import ReqMgr2Settings
from wms2.services.reqmgr import (
    RequestSourceBadAnswer,
    RequestSourceError,
    RequestSourceMisconfigured,
    RequestSourceRefused,
    RequestSourceUnavailable,
    _ssl_context,
    describe_credentials,
    extract_document,
)

ANSWER_CHARS = 300  # how much of ReqMgr2's answer the audit trail keeps
AUTHN_METHOD = "X509Cert"


class TransitionRefused(RequestSourceError):
    """ReqMgr2 answered 4xx to a write (for example ``InvalidStateTransition``)."""

    def __init__(self, message: str, *, url: str, name: str | None, status: int, answer: str) -> None:
        super().__init__(message, url=url, name=name)
        self.status = status
        self.answer = answer


@dataclass(frozen=True)
class WriteAnswer:
    status: int
    answer: str


def frontend_headers(key: bytes, dn: str, login: str, roles: dict[str, list[str]]) -> dict[str, str]:
    """The ``cms-auth*`` headers cmsweb's front-end adds after authenticating ``dn``, with the HMAC
    ReqMgr2 checks: SHA1 over ``h<len(name)>v<len(value)>``... ``#`` ``name value``... of the sorted
    ``cms-authn-*``/``cms-authz-*`` headers (lengths in hex)."""
    headers = {"cms-authn-method": AUTHN_METHOD, "cms-authn-login": login, "cms-authn-name": login,
               "cms-authn-dn": dn}
    for role, groups in roles.items():
        headers[f"cms-authz-{role}"] = " ".join(f"group:{g}" for g in groups)
    prefix = suffix = ""
    for name in sorted(headers):
        prefix += f"h{len(name):x}v{len(headers[name]):x}"
        suffix += f"{name}{headers[name]}"
    digest = hmac.new(key, f"{prefix}#{suffix}".encode(), hashlib.sha1).hexdigest()
    return {**headers, "cms-auth-status": "OK", "cms-authn-hmac": digest}


def _reason(resp: httpx.Response) -> str:
    """ReqMgr2 explains an error in ``X-Error-Detail`` (the body is an HTML page)."""
    return (resp.headers.get("X-Error-Detail") or resp.headers.get("X-Error-Info") or resp.text)[:ANSWER_CHARS]


def _read_key(path: Path, url: str) -> bytes:
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise RequestSourceMisconfigured(f"reqmgr2.frontend_hmac_key_file: cannot read {path}: {exc.strerror}",
                                         url=url) from None
    if not key:
        raise RequestSourceMisconfigured(f"reqmgr2.frontend_hmac_key_file: {path} is empty", url=url)
    return key


class ReqMgr2SyncClient:
    def __init__(self, cfg: ReqMgr2Settings) -> None:
        self.cfg = cfg
        self.base = cfg.url.rstrip("/")
        self._http: httpx.Client | None = None

    def _client(self) -> httpx.Client:
        if self._http is None:
            verify: Any = _ssl_context(self.cfg) if self.base.startswith("https://") else True
            self._http = httpx.Client(timeout=self.cfg.sync_timeout_s, verify=verify)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _headers(self, write: bool = False) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if write:
            headers["Content-Type"] = "application/json"
        if self.cfg.frontend_hmac_key_file is not None:
            key = _read_key(self.cfg.frontend_hmac_key_file, self.base)
            headers.update(frontend_headers(key, self.cfg.agent_dn, "wms2", self.cfg.frontend_roles))
        return headers

    def _send(self, method: str, path: str, *, params: Any = None, body: Any = None,
              name: str | None = None) -> httpx.Response:
        url = f"{self.base}{path}"
        try:
            return self._client().request(method, url, params=params, headers=self._headers(body is not None),
                                          content=None if body is None else json.dumps(body))
        except httpx.HTTPError as exc:
            raise RequestSourceUnavailable(f"ReqMgr2 at {url}: {type(exc).__name__}: {exc}", url=url,
                                           name=name) from None

    def _json(self, resp: httpx.Response, name: str | None) -> Any:
        url = str(resp.request.url)
        if resp.status_code >= httpx.codes.INTERNAL_SERVER_ERROR:
            raise RequestSourceUnavailable(f"ReqMgr2 at {url}: HTTP {resp.status_code}", url=url, name=name)
        if resp.status_code in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
            raise RequestSourceRefused(f"ReqMgr2 {url}: HTTP {resp.status_code}: refused "
                                       f"{describe_credentials(self.cfg)}", url=url, name=name)
        if resp.status_code != httpx.codes.OK:
            raise RequestSourceBadAnswer(f"ReqMgr2 {url}: HTTP {resp.status_code}: {_reason(resp)}", url=url,
                                         name=name)
        try:
            return resp.json()
        except ValueError:
            raise RequestSourceBadAnswer(f"ReqMgr2 {url}: answer is not JSON", url=url, name=name) from None

    # -- reads ----------------------------------------------------------------------------------------
    def requests(self, statuses: list[str] | tuple[str, ...], team: str) -> dict[str, dict[str, Any]]:
        """Every request of ``team`` in one of ``statuses``, by name (ReqMgr2 intersects the filters)."""
        params = [("status", s) for s in statuses] + [("team", team), ("_nostale", "true")]
        body = self._json(self._send("GET", "/request", params=params), None)
        if not isinstance(body, dict) or not isinstance(body.get("result"), list):
            raise RequestSourceBadAnswer(f"ReqMgr2 {self.base}/request: expected {{\"result\": [...]}}",
                                         url=self.base)
        found: dict[str, dict[str, Any]] = {}
        for item in body["result"]:
            if isinstance(item, dict):
                if isinstance(item.get("RequestName"), str):
                    found[item["RequestName"]] = item
                    continue
                found.update({k: v for k, v in item.items() if isinstance(v, dict)})
        return found

    def get(self, name: str) -> dict[str, Any]:
        what = f"ReqMgr2 {self.base}/request?name={name}"
        body = self._json(self._send("GET", "/request", params={"name": name, "_nostale": "true"}, name=name),
                          name)
        return extract_document(body, name, what, f"{self.base}/request")

    # -- writes ---------------------------------------------------------------------------------------
    def update(self, name: str, fields: dict[str, Any]) -> WriteAnswer:
        """``PUT /request/<name>``: a status transition and/or properties.  4xx → :class:`TransitionRefused`."""
        path = f"/request/{quote(name, safe='')}"
        resp = self._send("PUT", path, body={"RequestName": name, **fields}, name=name)
        text = " ".join(resp.text.split())[:ANSWER_CHARS]  # one line for the audit trail
        if resp.status_code >= httpx.codes.INTERNAL_SERVER_ERROR:
            raise RequestSourceUnavailable(f"ReqMgr2 {self.base}{path}: HTTP {resp.status_code}: {text}",
                                           url=self.base + path, name=name)
        if resp.status_code in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
            raise RequestSourceRefused(f"ReqMgr2 {self.base}{path}: HTTP {resp.status_code}: refused "
                                       f"{describe_credentials(self.cfg)}", url=self.base + path, name=name)
        if resp.status_code != httpx.codes.OK:
            reason = _reason(resp)
            raise TransitionRefused(f"ReqMgr2 refused {fields} for {name}: HTTP {resp.status_code}: {reason}",
                                    url=self.base + path, name=name, status=resp.status_code, answer=reason)
        return WriteAnswer(resp.status_code, text)

    def set_status(self, name: str, status: str) -> WriteAnswer:
        return self.update(name, {"RequestStatus": status})

    def create(self, document: dict[str, Any]) -> str:
        """``POST /request``: create a request; returns the name ReqMgr2 gave it."""
        resp = self._send("POST", "/request", body=document)
        body = self._json(resp, None)
        try:
            return str(body["result"][0]["request"])
        except (KeyError, IndexError, TypeError):
            raise RequestSourceBadAnswer(f"ReqMgr2 {self.base}/request: unexpected create answer {body!r:.200}",
                                         url=self.base) from None
