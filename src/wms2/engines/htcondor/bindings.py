"""The thin adapter between the HTCondor engine and the ``htcondor2`` bindings.

Every call into the bindings goes through :class:`CondorPool`; tests hand it a fake module with the
same surface (``Collector``, ``Schedd``, ``Submit``, ``DaemonType``, ``AdType``, ``JobAction``,
``SubmitMethod``, ``HTCondorException``).  Results leave this module as plain ``dict`` objects, so the engine never
sees a ClassAd.  Binding facts used here are from ``dagman-reference.md`` §6.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from wms2.engines.base import ScheddUnreachable

log = logging.getLogger(__name__)

T = TypeVar("T")

# ``Schedd.act`` action names accepted by :meth:`CondorPool.act` (``htcondor2.JobAction`` members).
ACTIONS: frozenset[str] = frozenset({"Hold", "Release", "Remove"})


def plain_ad(ad: Any) -> dict[str, Any]:
    """A ClassAd as a dict of Python values.

    Literal values are kept; expressions are evaluated; ``Undefined``/``Error`` (``classad2.Value``, an
    ``IntEnum``, so it would otherwise pass for the integers 1 and 2) are dropped.
    """
    out: dict[str, Any] = {}
    for key in ad.keys():  # noqa: SIM118 - ClassAd is not a dict
        value = ad.get(key)
        if type(value).__name__ == "ExprTree":
            value = ad.eval(key)
        if type(value).__name__ == "Value":
            continue
        out[str(key)] = value
    return out


class CondorPool:
    """Locates schedds through a collector and runs schedd calls, mapping failures to typed errors.

    ``collector=None`` means the collector of the local HTCondor configuration (``COLLECTOR_HOST``).
    Schedd location ads are cached per name and dropped when a call fails, so a schedd that restarted
    on a new address is found again by the next call.
    """

    def __init__(self, collector: str | None = None, bindings: Any = None) -> None:
        self._b = bindings if bindings is not None else importlib.import_module("htcondor2")
        self._collector_address = collector
        self._locations: dict[str, Any] = {}
        self._lock = threading.Lock()

    # Collector ----------------------------------------------------------------------------------
    def _collector(self) -> Any:
        return self._b.Collector(self._collector_address)

    def _collector_name(self) -> str:
        return self._collector_address or "the configured collector (COLLECTOR_HOST)"

    def schedd_names(self) -> list[str]:
        """Names of all schedds the collector knows."""
        try:
            ads = self._collector().locateAll(self._b.DaemonType.Schedd)
        except self._b.HTCondorException as exc:
            raise ScheddUnreachable(f"collector {self._collector_name()} did not answer: {exc}") from exc
        names: list[str] = []
        with self._lock:
            for ad in ads:
                name = ad.get("Name")
                if isinstance(name, str) and name:
                    names.append(name)
                    self._locations[name] = ad
        return names

    def schedd_ads(self, projection: list[str]) -> dict[str, dict[str, Any]]:
        """The collector's schedd ads (``Collector.query(AdType.Schedd)``, reference §6.2) by name, with
        ``Name`` and ``projection`` (e.g. the job totals the schedd publishes)."""
        try:
            ads = self._collector().query(self._b.AdType.Schedd, projection=["Name", *projection])
        except self._b.HTCondorException as exc:
            raise ScheddUnreachable(f"collector {self._collector_name()} did not answer: {exc}") from exc
        out: dict[str, dict[str, Any]] = {}
        for ad in ads:
            plain = plain_ad(ad)
            name = plain.get("Name")
            if isinstance(name, str) and name:
                out[name] = plain
        return out

    def _location(self, schedd: str) -> tuple[Any, bool]:
        with self._lock:
            cached = self._locations.get(schedd)
        if cached is not None:
            return cached, True
        try:
            ad = self._collector().locate(self._b.DaemonType.Schedd, schedd)
        except self._b.HTCondorException as exc:
            raise ScheddUnreachable(f"schedd {schedd}: not located through {self._collector_name()}: {exc}") from exc
        with self._lock:
            self._locations[schedd] = ad
        return ad, False

    def forget(self, schedd: str) -> None:
        with self._lock:
            self._locations.pop(schedd, None)

    def _call(self, schedd: str, what: str, fn: Callable[[Any], T], retry: bool = True) -> T:
        """Run ``fn(Schedd)``; a failure with a cached location relocates the schedd and, when ``retry``
        (the call is idempotent), tries once more."""
        for attempt in (1, 2):
            location, cached = self._location(schedd)
            try:
                return fn(self._b.Schedd(location))
            except self._b.HTCondorException as exc:
                self.forget(schedd)
                if retry and cached and attempt == 1:
                    log.info("schedd %s: %s failed with a cached address (%s); relocating", schedd, what, exc)
                    continue
                raise ScheddUnreachable(f"schedd {schedd}: {what} failed: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises

    # Schedd calls -------------------------------------------------------------------------------
    def query(self, schedd: str, constraint: str, projection: list[str], limit: int = -1) -> list[dict[str, Any]]:
        ads = self._call(schedd, "query", lambda s: s.query(constraint, projection, limit=limit))
        return [plain_ad(ad) for ad in ads]

    def history(self, schedd: str, constraint: str, projection: list[str], match: int = -1) -> list[dict[str, Any]]:
        ads = self._call(schedd, "history", lambda s: s.history(constraint, projection, match=match))
        return [plain_ad(ad) for ad in ads]

    def act(self, schedd: str, action: str, job_spec: str, reason: str | None) -> dict[str, Any]:
        """``Schedd.act``.  The reason goes as a ``(text, None)`` tuple: the bindings silently drop a
        plain ``str`` reason (reference §6.2, bug in ``_schedd.py``)."""
        if action not in ACTIONS:
            raise ValueError(f"unsupported schedd action {action!r} (one of {sorted(ACTIONS)})")
        job_action = getattr(self._b.JobAction, action)
        why = (reason, None) if reason else None
        result = self._call(schedd, action.lower(), lambda s: s.act(job_action, job_spec, why))
        return plain_ad(result) if result is not None else {}

    def submit(self, schedd: str, description: str, initialdir: Path, attributes: Mapping[str, str]) -> int:
        """Submit a DAGMan job from the text ``Submit.from_dag`` produced; returns the cluster id.

        ``initialdir`` sets the job's ``Iwd`` (the DAG directory): otherwise it would be the cwd of this
        process, and the relative ``-Dag``/``-l .``/log paths of the description would be wrong
        (reference §6.1).
        """
        sub = self._b.Submit(description)
        sub["initialdir"] = str(initialdir)
        for name, value in attributes.items():
            sub[f"My.{name}"] = value
        # Mark the job as a DAG submission, as ``htcondor dag submit`` does (reference §6.2).
        sub.setSubmitMethod(self._b.SubmitMethod.HTCondorDagSubmit, True)
        # Never retried: the schedd may have queued the job before the connection failed.
        result = self._call(schedd, "submit", lambda s: s.submit(sub), retry=False)
        return int(result.cluster())
