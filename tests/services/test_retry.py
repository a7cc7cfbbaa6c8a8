"""The shared retry loop of the outside services' clients (services/retry.py)."""

from __future__ import annotations

import logging

import pytest

from wms2.services.retry import Backoff, RetriesExhausted, retrying

log = logging.getLogger("test.retry")


class Flaky:
    """Fails with ``errors`` in turn, then answers ``value``."""

    def __init__(self, errors: list[Exception], value: str = "ok") -> None:
        self.errors = list(errors)
        self.value = value
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.value


class Fatal(Exception):
    pass


def triage(exc: Exception) -> str:
    if isinstance(exc, ConnectionError):
        return f"cannot connect: {exc}"
    raise Fatal(f"no retry: {exc}") from exc


def test_transient_failures_are_retried_with_doubling_waits(caplog: pytest.LogCaptureFixture) -> None:
    waits: list[float] = []
    fn = Flaky([ConnectionError("refused"), ConnectionError("reset")])
    with caplog.at_level(logging.WARNING, logger="test.retry"):
        assert retrying(fn, Backoff(3, 0.5), triage, what="SVC call x", log=log, sleep=waits.append) == "ok"
    assert fn.calls == 3
    assert waits == [0.5, 1.0]
    assert "SVC call x: cannot connect: refused (attempt 1/4, retrying in 0.5 s)" in caplog.text


def test_every_attempt_failing_raises_exhausted_with_the_last_problem() -> None:
    waits: list[float] = []
    fn = Flaky([ConnectionError(f"try {i}") for i in range(5)])
    with pytest.raises(RetriesExhausted) as info:
        retrying(fn, Backoff(2, 1.0, factor=3.0), triage, what="SVC", log=log, sleep=waits.append)
    assert fn.calls == 3
    assert waits == [1.0, 3.0]  # no wait after the last attempt
    assert info.value.attempts == 3
    assert info.value.last == "cannot connect: try 2"
    assert isinstance(info.value.cause, ConnectionError)


def test_a_failure_triage_refuses_is_raised_at_once() -> None:
    waits: list[float] = []
    fn = Flaky([ValueError("bad answer"), ConnectionError("never reached")])
    with pytest.raises(Fatal, match="no retry: bad answer"):
        retrying(fn, Backoff(5, 1.0), triage, what="SVC", log=log, sleep=waits.append)
    assert fn.calls == 1
    assert waits == []


def test_no_retries_means_one_attempt() -> None:
    fn = Flaky([ConnectionError("down")])
    with pytest.raises(RetriesExhausted, match=r"cannot connect: down \(after 1 attempt\(s\)\)"):
        retrying(fn, Backoff(0, 1.0), triage, what="SVC", log=log, sleep=lambda _s: None)


@pytest.mark.parametrize(("retries", "wait", "factor", "field"), [(-1, 1.0, 2.0, "retries"),
                                                                  (1, -0.1, 2.0, "first_wait_s"),
                                                                  (1, 1.0, 0.5, "factor")])
def test_absurd_backoff_is_refused_naming_the_field(retries: int, wait: float, factor: float, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Backoff(retries, wait, factor)
