"""An unreachable database: one-line messages (password hidden) and the lifecycle's retry with backoff."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from wms2.config import OwnershipSettings
from wms2.core.alerts import raise_alert

log = logging.getLogger(__name__)

# What "the database is unreachable" looks like to SQLAlchemy (connection refused, reset, DNS, locked).
DB_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
ALERT_KIND = "database_unreachable"
_USERINFO = re.compile(r"(://[^:/@\s]*:)([^@\s]*)(@)")


def hide_password(url: str) -> str:
    """The URL with its password replaced by ``***`` (also for strings SQLAlchemy cannot parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _USERINFO.sub(r"\1***\3", url)


def _password(url: str) -> str | None:
    try:
        return make_url(url).password  # type: ignore[return-value]
    except (ArgumentError, ValueError):
        match = _USERINFO.search(url)
        return match.group(2) if match else None


def error_cause(exc: BaseException, url: str | None = None) -> str:
    """The first line of the driver's message (never the traceback), with any password masked."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    if url is not None:
        line = line.replace(url, hide_password(url))
        secret = _password(url)
        if secret:
            line = line.replace(secret, "***")
    return line


def describe_db_error(url: str, exc: BaseException) -> str:
    """``cannot use database <url, password hidden>: <cause>`` on one line."""
    kind = "unsupported database URL" if isinstance(exc, (ArgumentError, NoSuchModuleError)) else "cause"
    return f"cannot use database {hide_password(url)}: {kind}: {error_cause(exc, url)}"


def is_database_error(exc: BaseException) -> bool:
    return isinstance(exc, (SQLAlchemyError, ArgumentError))


@dataclass
class DatabaseOutage:
    """The lifecycle's view of an outage: when it began, how many attempts failed, the next wait.

    While the database is unreachable nothing can be stored, so the alert is a log line at ERROR (and
    the state in ``GET /api/v1/lifecycle``); when the database answers again the outage is stored as an
    ``database_unreachable`` alert with its duration."""

    settings: OwnershipSettings
    url: str
    since: datetime | None = None
    attempts: int = 0
    last_error: str = ""

    def failed(self, exc: BaseException, now: datetime) -> float:
        """Record a failed attempt; return how long to wait before the next one."""
        if self.since is None:
            self.since = now
        self.attempts += 1
        self.last_error = error_cause(exc, self.url)
        delay = min(self.settings.db_retry_base_s * 2 ** (self.attempts - 1), self.settings.db_retry_max_s)
        log.error("ALERT %s: database %s unreachable since %s (attempt %d): %s; retrying in %.0fs",
                  ALERT_KIND, hide_password(self.url), self.since.isoformat(timespec="seconds"), self.attempts,
                  self.last_error, delay)
        return delay

    def recovered(self, session: Session, now: datetime) -> None:
        """After an outage: store it as an alert (in the caller's transaction) and reset."""
        if self.since is None:
            return
        reason = (f"database {hide_password(self.url)} was unreachable for {(now - self.since).total_seconds():.0f}s"
                  f" ({self.attempts} failed attempts; last: {self.last_error})")
        raise_alert(session, kind=ALERT_KIND, reason=reason, now=now,
                    detail={"since": self.since.isoformat(), "attempts": self.attempts}, repeat_after_s=0.0)
        log.warning("database reachable again: %s", reason)
        self.since, self.attempts, self.last_error = None, 0, ""

    def view(self) -> dict[str, Any] | None:
        if self.since is None:
            return None
        return {"since": self.since, "attempts": self.attempts, "last_error": self.last_error}
