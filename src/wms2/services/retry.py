"""Retries with exponential backoff, shared by the clients of the outside services (CRIC, DBS, ReqMgr2, Rucio).

Each client keeps its own idea of what is worth another attempt and of the error it reports: it passes a
``triage`` function that returns a one-line description of a transient failure (a connection refused, a
timeout, an HTTP 5xx) or raises the client's own error for a failure that another attempt would not
cure (a 4xx, a malformed answer).  When every attempt failed transiently, :class:`RetriesExhausted`
carries the count and the last description, and the client turns it into its "unavailable" error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

BACKOFF_FACTOR = 2.0  # each wait is twice the previous one


@dataclass(frozen=True)
class Backoff:
    """``retries`` attempts after the first; the first wait is ``first_wait_s``, then ``factor`` times more."""

    retries: int
    first_wait_s: float
    factor: float = BACKOFF_FACTOR

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if self.first_wait_s < 0:
            raise ValueError(f"first_wait_s must be >= 0, got {self.first_wait_s}")
        if self.factor < 1:
            raise ValueError(f"factor must be >= 1, got {self.factor}")

    @property
    def attempts(self) -> int:
        return self.retries + 1


class RetriesExhausted(Exception):
    """Every attempt failed transiently; ``last`` describes the last failure, ``cause`` is its exception."""

    def __init__(self, attempts: int, last: str, cause: BaseException) -> None:
        super().__init__(f"{last} (after {attempts} attempt(s))")
        self.attempts = attempts
        self.last = last
        self.cause = cause


def retrying(attempt: Callable[[], T], backoff: Backoff, triage: Callable[[Exception], str], *, what: str,
             log: logging.Logger, sleep: Callable[[float], None] = time.sleep) -> T:
    """``attempt()``, again after a wait each time ``triage`` calls its failure transient.

    ``triage(exc)`` returns the description of a transient failure, or raises the error to report (it
    may re-raise ``exc``).  Each retry is logged as a warning naming ``what``, the attempt and the wait.
    """
    wait = backoff.first_wait_s
    for number in range(1, backoff.attempts + 1):
        try:
            return attempt()
        except Exception as exc:  # triage decides: retry, or raise the client's own error
            problem = triage(exc)
            if number == backoff.attempts:
                raise RetriesExhausted(backoff.attempts, problem, exc) from exc
            log.warning("%s: %s (attempt %d/%d, retrying in %.1f s)", what, problem, number, backoff.attempts, wait)
            sleep(wait)
            wait *= backoff.factor
    raise AssertionError("unreachable: the last attempt returns or raises")
