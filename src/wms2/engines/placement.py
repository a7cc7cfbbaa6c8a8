"""Where the next DAG goes among several schedds (or local pools): a pure function of their loads.

The engines measure each schedd's load (active top-level DAGMan jobs and queued jobs) and call
:func:`place_dag`; the rule is the same for the HTCondor engine and the local engine's pools, and is
tested without any daemon.  Caps come from ``settings.engine.schedd_max_dags`` / ``schedd_max_jobs``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from wms2.engines.base import ScheddsFull, ScheddUnreachable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheddLoad:
    """What one schedd carries now: active top-level DAGMan jobs and queued (running + idle) jobs."""

    name: str
    dags: int
    jobs: int = 0


@dataclass(frozen=True)
class ScheddCaps:
    """Per-schedd caps (``settings.engine.schedd_max_dags`` / ``schedd_max_jobs``); None = no cap."""

    max_dags: int | None = None
    max_jobs: int | None = None

    def admits(self, load: ScheddLoad) -> bool:
        """True when one more DAG may go to this schedd."""
        if self.max_dags is not None and load.dags >= self.max_dags:
            return False
        return self.max_jobs is None or load.jobs < self.max_jobs

    def describe(self, load: ScheddLoad) -> str:
        dags = f"{load.dags}/{self.max_dags}" if self.max_dags is not None else str(load.dags)
        jobs = f"{load.jobs}/{self.max_jobs}" if self.max_jobs is not None else str(load.jobs)
        return f"{load.name}: {dags} DAGs, {jobs} jobs"


def place_dag(loads: Sequence[ScheddLoad], caps: ScheddCaps, unreachable: Mapping[str, str] | None = None) -> str:
    """The schedd for the next DAG: among the schedds that answered (``loads``, in configured order)
    and are under their caps, the one with the fewest active DAGs, then the fewest jobs, then the
    earliest in the order.  A pure function: the engines measure the loads, this decides.

    Raises :class:`ScheddUnreachable` when no schedd answered, :class:`ScheddsFull` when every schedd
    that answered is at a cap.
    """
    if not loads:
        errors = list((unreachable or {}).values())  # each message names its schedd
        raise ScheddUnreachable("no schedd answered: " + "; ".join(errors or ["no schedd configured"]))
    open_ = [load for load in loads if caps.admits(load)]
    if not open_:
        raise ScheddsFull("every schedd that answered is at its cap: " +
                          "; ".join(caps.describe(load) for load in loads))
    best = min(open_, key=lambda load: (load.dags, load.jobs))  # min keeps the first of equals
    log.debug("place_dag: %s among %s", best.name, [caps.describe(load) for load in loads])
    return best.name
