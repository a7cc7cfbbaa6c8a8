"""Schedd choice per DAG (``settings.engine.schedd_policy``).

``least_active``: the schedd with the fewest *active top-level DAGMan jobs*, counted by one queue query
per schedd with :data:`ACTIVE_DAGMAN_CONSTRAINT`:

- ``JobUniverse == 7``: DAGMan runs in the scheduler universe (reference §4.6);
- ``OtherJobRemoveRequirements =!= undefined``: set by ``condor_submit_dag``/``from_dag`` on every DAGMan
  job (reference §5.2) and not by other scheduler-universe jobs;
- ``DAGManJobId =?= undefined``: only sub-DAG DAGMans carry it; a workflow's merge-group sub-DAGs are part
  of one DAG and must not count as many;
- ``JobStatus`` idle, running or held: removed/completed jobs still in the queue do not load the schedd.

All users' DAGs count, not only WMS2's: they all load the schedd.  Unreachable schedds are skipped; ties
go to the earlier schedd in the configured (or collector) order.

``round_robin``: the next reachable schedd after the one chosen last time, in list order.

Both policies respect the per-schedd caps (:class:`ScheddCaps`); the load-based choice itself is the
pure function :func:`wms2.engines.placement.place_dag`, shared with the local engine's pools.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from wms2.engines.base import ScheddUnreachable
from wms2.engines.placement import ScheddCaps, ScheddLoad, place_dag

log = logging.getLogger(__name__)

JOB_UNIVERSE_SCHEDULER = 7
# Attributes of the schedd ad (collector, ``AdType.Schedd``) that measure its job load: the jobs it
# runs and the jobs it holds idle, of every universe and user (all of them load the schedd).
SCHEDD_JOB_ATTRIBUTES: tuple[str, ...] = ("TotalRunningJobs", "TotalIdleJobs")
ACTIVE_DAGMAN_CONSTRAINT = (
    f"JobUniverse == {JOB_UNIVERSE_SCHEDULER} && OtherJobRemoveRequirements =!= undefined"
    " && DAGManJobId =?= undefined && (JobStatus == 1 || JobStatus == 2 || JobStatus == 5)"
)
COUNT_PROJECTION = ["ClusterId"]

# count_active(schedd) -> number of active DAGMan jobs; raises ScheddUnreachable.
ActiveCounter = Callable[[str], int]
# reachable(schedd) -> True when the schedd answers.
Reachable = Callable[[str], bool]


def least_active(names: list[str], count_active: ActiveCounter) -> str:
    """The schedd with the fewest active DAGs (no caps, no job counts): :func:`place_dag` on DAG counts."""
    loads: list[ScheddLoad] = []
    unreachable: dict[str, str] = {}
    for name in names:
        try:
            loads.append(ScheddLoad(name, count_active(name)))
        except ScheddUnreachable as exc:
            log.warning("schedd %s skipped by least_active: %s", name, exc)
            unreachable[name] = str(exc)
    return place_dag(loads, ScheddCaps(), unreachable)


class RoundRobin:
    """Cycles through the schedds; remembers the last choice across calls."""

    def __init__(self) -> None:
        self._last: str | None = None
        self._lock = threading.Lock()

    def __call__(self, names: list[str], reachable: Reachable) -> str:
        with self._lock:
            start = names.index(self._last) + 1 if self._last in names else 0
            order = names[start:] + names[:start]
            for name in order:
                if reachable(name):
                    self._last = name
                    return name
        raise ScheddUnreachable("no schedd answered among " + ", ".join(names or ["(none configured)"]))
