"""The local engine (embedded default): ``LocalEngine`` and ``ensure_pool_running``."""

from wms2.engines.local.client import LocalEngine, ensure_pool_running, pool_status, stop_pool

__all__ = ["LocalEngine", "ensure_pool_running", "pool_status", "stop_pool"]
