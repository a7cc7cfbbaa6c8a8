"""How a driver that runs the lifecycle cycles itself (``wms2 demo``, the end-to-end tests) waits between
two cycles: not a fixed sleep, but until there is something to act on.

- After a cycle that moved a request (submitted -> queued -> planning -> active, ...), the next cycle
  runs after ``change_poll_min_seconds``: one transition often enables the next.
- Otherwise it waits for a change of the engine's top-level DAG jobs (submitted, held, released, left
  the queue: a round ended), re-checking with a back-off from ``change_poll_min_seconds`` to
  ``change_poll_max_seconds``, and at the latest ``cycle_seconds``, the period ``wms2 run`` uses.

So nothing waits longer than the fixed period did, and a round that ends is acted on within a few tens of
milliseconds.  Engines without a cheap change signal (HTCondor) get the transitions shortcut and the period.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

from wms2.config import Settings


def _no_signal() -> Hashable:
    return None


class CycleWaiter:
    def __init__(self, settings: Settings) -> None:
        self.lifecycle = settings.lifecycle
        self._signal: Callable[[], Hashable] = _no_signal
        if settings.engine.kind == "local":
            from wms2.engines.local.pools import pool_names, pool_spool
            from wms2.engines.local.watch import PoolsWatch

            self._signal = PoolsWatch([pool_spool(settings, name) for name in pool_names(settings)]).signature
        self._seen = self._signal()

    def wait(self, transitions: int = 0) -> None:
        """Return when the next cycle is due; ``transitions`` is the last cycle's count."""
        lc = self.lifecycle
        poll = lc.change_poll_min_seconds
        deadline = time.monotonic() + (poll if transitions else lc.cycle_seconds)
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(poll, left))
            if self._signal() != self._seen:
                break
            poll = min(2 * poll, lc.change_poll_max_seconds)
        self._seen = self._signal()
