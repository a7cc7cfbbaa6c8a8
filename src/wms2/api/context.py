"""What every endpoint needs: settings, database, the lifecycle (to wake it), the engine, auth, metrics."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from wms2.api.auth import Authenticator
from wms2.api.cache import TtlCache
from wms2.api.metrics import ApiMetrics
from wms2.config import Settings
from wms2.core.foreground import ForegroundActivity
from wms2.core.lifecycle import LifecycleManager
from wms2.core.operator import Operator
from wms2.db.session import Database
from wms2.engines.base import Engine

log = logging.getLogger(__name__)


@dataclass
class ApiContext:
    settings: Settings
    db: Database
    lifecycle: LifecycleManager | None
    auth: Authenticator
    metrics: ApiMetrics
    engine_factory: Callable[[], Engine] | None = None
    sites_synced: bool = False
    cache: TtlCache = field(default_factory=lambda: TtlCache(0.0))
    foreground: ForegroundActivity = field(default_factory=ForegroundActivity)  # requests in flight
    _engine: Engine | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def engine(self) -> Engine:
        """The execution engine, built on first use (most endpoints never need it)."""
        with self._lock:
            if self._engine is None:
                if self.engine_factory is None:
                    from wms2.engines.factory import make_engine

                    self._engine = make_engine(self.settings)
                else:
                    self._engine = self.engine_factory()
            return self._engine

    def operator(self) -> Operator:
        """The lifecycle's operator actions (stop, release, fail, restart, DAG hold/release)."""
        from wms2.core.wiring import build_operator

        return build_operator(self.settings, self.engine())

    def wake(self) -> None:
        """After a state change: drop cached aggregates, and make the lifecycle act in seconds rather
        than after a full cycle."""
        self.cache.clear()
        if self.lifecycle is not None:
            self.lifecycle.wake()

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
