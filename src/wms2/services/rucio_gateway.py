"""One door to Rucio for WMS2: the real ``rucio-clients`` ``Client``, retries with backoff, clear errors.

Every call goes through :meth:`RucioGateway.call`, which names the service, the call and the DID in any
error.  Transient failures (server down, connection refused, HTTP 5xx, a temporarily unavailable
resource) are retried ``retries`` times with doubling waits and then raised as :class:`RucioUnavailable`;
everything else (unknown DID, permission denied, invalid object, a malformed answer) is raised at once as
:class:`RucioCallError`.  Both are :class:`~wms2.services.outputs.RegistrationError`, so the Output
Manager records them on the block and retries on its own backoff schedule: the request is not failed.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from wms2.services.outputs import RegistrationError
from wms2.services.retry import Backoff, RetriesExhausted, retrying

log = logging.getLogger(__name__)
T = TypeVar("T")
SERVICE = "Rucio"


class RucioError(RegistrationError):
    """A Rucio call failed; the message names the service, the call and the DID."""

    def __init__(self, message: str, *, call: str, did: str, transient: bool) -> None:
        super().__init__(message)
        self.call, self.did, self.transient = call, did, transient


class RucioUnavailable(RucioError):
    """Rucio did not answer (or answered 5xx) after the retries: try again later."""


class RucioCallError(RucioError):
    """Rucio answered with a permanent error (unknown DID, permission denied, malformed answer...)."""


@dataclass(frozen=True)
class RucioConfig:
    """How to reach Rucio (``[catalog]`` settings or a dev server's state)."""

    url: str
    auth_url: str | None = None  # None: same as url
    account: str = "wms2"
    auth_type: str = "userpass"  # userpass | x509 | x509_proxy | oidc
    username: str | None = None
    password: str | None = None
    cert: str | None = None  # x509 / x509_proxy
    key: str | None = None
    ca_cert: str | None = None
    client_config: str | None = None  # a client-only rucio.cfg (token location, ...), exported as RUCIO_CONFIG
    scope: str = "cms"
    timeout_s: float = 60.0
    retries: int = 2
    retry_backoff_s: float = 0.5


# Exception class names of rucio.common.exception that mean "try again later".
_TRANSIENT = frozenset({
    "ServerConnectionException", "ServiceUnavailable", "ResourceTemporaryUnavailable", "DatabaseException",
    "ReplicationRuleCreationTemporaryFailed", "CannotAuthenticate", "RSENotConnected",
})
# Low-level transport failures (requests / urllib3 / OS): the server is down or restarting.
_TRANSPORT = ("ConnectionError", "ConnectTimeout", "ReadTimeout", "Timeout", "ChunkedEncodingError",
              "RemoteDisconnected", "ProtocolError", "ConnectionRefusedError", "ConnectionResetError")


_SERVER_ERROR = re.compile(r"status code: 5\d\d")


def _is_transient(exc: BaseException) -> bool:
    name = type(exc).__name__
    if name in _TRANSIENT or name in _TRANSPORT:
        return True
    if name == "RucioException":  # generic: the client saw an unexpected HTTP status
        return bool(_SERVER_ERROR.search(str(exc)))
    return False


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:400]}" if text else type(exc).__name__


class RucioGateway:
    """The Rucio client, created on first use, and :meth:`call` with retries and error naming."""

    def __init__(self, config: RucioConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._client: Any = None
        self._sleep = sleep

    @property
    def scope(self) -> str:
        return self.config.scope

    def _make_client(self) -> Any:
        cfg = self.config
        if cfg.client_config:
            os.environ["RUCIO_CONFIG"] = str(Path(cfg.client_config))
            from rucio.common.config import clean_cached_config

            clean_cached_config()
        from rucio.client import Client

        creds: dict[str, Any] | None = None
        if cfg.auth_type == "userpass":
            creds = {"username": cfg.username or cfg.account, "password": cfg.password or ""}
        elif cfg.auth_type in ("x509", "x509_proxy"):
            creds = {"client_cert": cfg.cert, "client_key": cfg.key or cfg.cert, "client_proxy": cfg.cert}
        return Client(rucio_host=cfg.url, auth_host=cfg.auth_url or cfg.url, account=cfg.account,
                      auth_type=cfg.auth_type, creds=creds, ca_cert=cfg.ca_cert, timeout=int(cfg.timeout_s),
                      user_agent="wms2")

    def call(self, call: str, did: str, fn: Callable[[Any], T]) -> T:
        """``fn(client)`` with retries on transient failures; errors name Rucio, ``call`` and ``did``."""

        def attempt() -> T:
            if self._client is None:
                self._client = self._make_client()
            return fn(self._client)

        def triage(exc: Exception) -> str:
            if isinstance(exc, ValueError):  # json.JSONDecodeError included: a malformed answer
                raise RucioCallError(f"{SERVICE} {call} {did}: malformed answer from {self.config.url}: "
                                     f"{_describe(exc)}", call=call, did=did, transient=False) from exc
            if not _is_transient(exc):
                raise RucioCallError(f"{SERVICE} {call} {did}: {_describe(exc)}", call=call, did=did,
                                     transient=False) from exc
            if type(exc).__name__ == "CannotAuthenticate":
                self._client = None  # a new client logs in again
            return _describe(exc)

        backoff = Backoff(self.config.retries, self.config.retry_backoff_s)
        try:
            return retrying(attempt, backoff, triage, what=f"{SERVICE} {call} {did}", log=log, sleep=self._sleep)
        except RetriesExhausted as exc:
            raise RucioUnavailable(f"{SERVICE} {call} {did}: unavailable at {self.config.url} after {exc.attempts} "
                                   f"attempt(s): {exc.last}", call=call, did=did, transient=True) from exc.cause
