"""Builds the configured engine (``settings.engine.kind``)."""

from __future__ import annotations

from wms2.config import Settings
from wms2.engines.base import Engine


def make_engine(settings: Settings) -> Engine:
    """``htcondor`` -> :class:`HTCondorEngine`; ``local`` -> the embedded local engine.

    Both imports are lazy: the local engine must not load the bindings, and the HTCondor engine must not
    load the local pool.
    """
    kind = settings.engine.kind
    if kind == "htcondor":
        from wms2.engines.htcondor import HTCondorEngine

        return HTCondorEngine(settings.engine)
    if kind == "local":
        from wms2.engines.local_engine import LocalEngine

        return LocalEngine(settings)
    raise ValueError(f"settings.engine.kind: unknown engine {kind!r} (expected 'htcondor' or 'local')")
