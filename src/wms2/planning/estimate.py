"""How big a request is, before any planning: pure ``estimate_request_size(spec, planning)``.

Submission uses it to refuse requests that planning would refuse anyway (issue 12, defect 4); the
round planner applies the same limits (:func:`limit_problems`) to what it actually planned.

Only generation requests can be sized from the document alone (``RequestNumEvents`` / filter efficiency /
``EventsPerJob``).  An input-driven request's size depends on the input dataset's files, which the
catalog knows at planning time, so it is checked there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from wms2.config import PlanningSettings
from wms2.domain.request import MAX_EVENT_NUMBER, MAX_LUMI_NUMBER, RequestSpec
from wms2.planning import sizing

# A work unit is a SUBDAG EXTERNAL of landing + its processing jobs + merge + cleanup (design §3).
NODES_PER_WORK_UNIT_BESIDES_JOBS = 3


@dataclass(frozen=True)
class RequestSize:
    """Estimated size of a whole generation request, with request hints (round 0 / non-adaptive)."""

    generated_events: int
    events_per_job: int
    jobs: int
    work_units: int
    largest_dag_nodes: int  # the whole request for a non-adaptive request; one round otherwise
    lumis: int
    last_event: int
    last_lumi: int


@dataclass(frozen=True)
class SizeProblem:
    """``field`` is the RequestSpec path at fault (``splitting.events_per_job``...)."""

    field: str
    message: str


def estimate_request_size(spec: RequestSpec, planning: PlanningSettings) -> RequestSize | None:
    """The size of a generation request as planning would cut it; None for input-driven requests."""
    split = spec.splitting
    if not spec.is_generation or split.request_num_events is None or split.events_per_job is None:
        return None
    generated = math.ceil(split.request_num_events / split.filter_efficiency)
    # Non-adaptive requests and adaptive rounds >= 1 run at test_fraction (design §7.4); the pilot round
    # is smaller and capped in jobs, so this is the count that matters.
    epj = sizing.scaled(split.events_per_job, planning.test_fraction)
    jobs = -(-generated // epj)
    per_group = planning.jobs_per_work_unit
    work_units = -(-jobs // per_group)
    whole = jobs + NODES_PER_WORK_UNIT_BESIDES_JOBS * work_units
    if spec.adaptive:
        per_round = planning.work_units_per_round * (planning.max_jobs_per_work_unit
                                                     + NODES_PER_WORK_UNIT_BESIDES_JOBS)
        largest = min(whole, per_round)
    else:
        largest = whole
    jobs_per_lumi = per_group if split.filter_efficiency < planning.low_filter_efficiency else 1
    lumis = -(-jobs // jobs_per_lumi)
    return RequestSize(generated_events=generated, events_per_job=epj, jobs=jobs, work_units=work_units,
                       largest_dag_nodes=largest, lumis=lumis, last_event=split.first_event + generated - 1,
                       last_lumi=split.first_lumi + lumis - 1)


def limit_problems(jobs: int, work_units: int, dag_nodes: int, planning: PlanningSettings,
                   what: str = "request") -> list[str]:
    """The planning limits (jobs, work units, DAG size) that these counts break, each naming its setting."""
    problems = []
    if jobs > planning.max_jobs_per_request:
        problems.append(f"{what} has {jobs} jobs, above planning.max_jobs_per_request"
                        f" ({planning.max_jobs_per_request})")
    if work_units > planning.max_work_units_per_request:
        problems.append(f"{what} has {work_units} work units, above planning.max_work_units_per_request"
                        f" ({planning.max_work_units_per_request})")
    if dag_nodes > planning.max_dag_nodes:
        problems.append(f"{what} needs a DAG of {dag_nodes} nodes, above planning.max_dag_nodes"
                        f" ({planning.max_dag_nodes})")
    return problems


def size_problems(spec: RequestSpec, planning: PlanningSettings) -> list[SizeProblem]:
    """Why planning would refuse this request, before it is stored (empty when it fits)."""
    size = estimate_request_size(spec, planning)
    if size is None:
        return []
    split = spec.splitting
    how = (f"RequestNumEvents {split.request_num_events} / FilterEfficiency {split.filter_efficiency:g}"
           f" in jobs of {size.events_per_job} events")
    problems = [SizeProblem("splitting.events_per_job", f"{how}: {p}")
                for p in limit_problems(size.jobs, size.work_units, size.largest_dag_nodes, planning)]
    if size.last_event > MAX_EVENT_NUMBER:
        problems.append(SizeProblem("splitting.first_event", f"event numbers would reach {size.last_event},"
                                    f" above {MAX_EVENT_NUMBER} (64-bit event number columns)"))
    if size.last_lumi > MAX_LUMI_NUMBER:
        problems.append(SizeProblem("splitting.first_lumi", f"lumi numbers would reach {size.last_lumi},"
                                    f" above {MAX_LUMI_NUMBER} (CMSSW lumi numbers are 32-bit)"))
    return problems
