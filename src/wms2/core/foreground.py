"""Foreground work first: in ``wms2 serve`` the API's requests and the lifecycle share one interpreter.

The API counts the requests it is serving (:meth:`ForegroundActivity.begin` / :meth:`end`); between two
requests it evaluates, the Lifecycle Manager calls :meth:`ForegroundActivity.yield_to_foreground`, which
waits until no API request is in flight, so a read does not share the GIL with a DAG poll for longer
than the one evaluation already running.  The wait is bounded: per call by ``max_wait_s``, and per
cycle the lifecycle never waits longer in total than it has worked, so a busy API slows the lifecycle
down by half at most and never starves it.
"""

from __future__ import annotations

import threading
import time

# Longest single wait between two request evaluations (one evaluation takes ~10-30 ms at 1,250 WUs):
# longer than an API read at p99 on this machine, short enough that a stuck request costs little.
MAX_WAIT_S = 0.05


class ForegroundActivity:
    def __init__(self, max_wait_s: float = MAX_WAIT_S) -> None:
        self.max_wait_s = max_wait_s
        self._lock = threading.Lock()
        self._in_flight = 0
        self._idle = threading.Event()
        self._idle.set()
        self._cycle_started = 0.0
        self._waited = 0.0
        self.waited_total_s = 0.0  # over the process's life, for metrics and benches

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def begin(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._idle.clear()

    def end(self) -> None:
        with self._lock:
            self._in_flight -= 1
            if self._in_flight <= 0:
                self._in_flight = 0
                self._idle.set()

    def start_cycle(self) -> None:
        """A lifecycle cycle begins: its waiting budget starts at zero."""
        self._cycle_started = time.monotonic()
        self._waited = 0.0

    def yield_to_foreground(self) -> float:
        """Wait (bounded) until no foreground request is in flight; returns the seconds waited."""
        if self._idle.is_set():
            time.sleep(0)  # still hand the interpreter over to any thread that wants it
            return 0.0
        worked = time.monotonic() - self._cycle_started - self._waited
        budget = min(self.max_wait_s, worked - self._waited)
        if budget <= 0:
            time.sleep(0)
            return 0.0
        started = time.monotonic()
        self._idle.wait(budget)
        waited = time.monotonic() - started
        self._waited += waited
        self.waited_total_s += waited
        return waited
