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
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from wms2.engines.base import ScheddUnreachable

log = logging.getLogger(__name__)

JOB_UNIVERSE_SCHEDULER = 7
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
    counts: dict[str, int] = {}
    errors: list[str] = []
    for name in names:
        try:
            counts[name] = count_active(name)
        except ScheddUnreachable as exc:
            log.warning("schedd %s skipped by least_active: %s", name, exc)
            errors.append(str(exc))
    if not counts:
        raise ScheddUnreachable("no schedd answered: " + "; ".join(errors or ["no schedd configured"]))
    best = min(counts.values())
    chosen = next(name for name in names if counts.get(name) == best)
    log.debug("least_active: %s among %s", chosen, counts)
    return chosen


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
