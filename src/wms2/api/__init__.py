"""The operator HTTP interface: REST API under ``/api/v1`` (design §10).

``create_app`` and ``API_PREFIX`` are imported from :mod:`wms2.api.app` on first use (PEP 562), so that
importing :mod:`wms2.api.models` alone, as the CLI's local mode does, does not load FastAPI, the routers
and the dashboard (about half a CPU-second per ``wms2`` command; test-speed.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wms2.api.app import API_PREFIX, create_app

__all__ = ["API_PREFIX", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from wms2.api import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
