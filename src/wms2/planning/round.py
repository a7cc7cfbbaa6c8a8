"""Plan one round: pure ``plan_round(inputs) -> RoundPlan`` (design §7).

No database, no files: the inputs are a typed snapshot (request, workflow offsets, input files with
their states, measurements, overrides, bans) so that planning can run anywhere, off the event loop,
and be tested exhaustively.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from wms2.domain.enums import InputFileState, SplittingAlgo
from wms2.planning import sizing
from wms2.planning.blocks import plan_blocks
from wms2.planning.estimate import limit_problems
from wms2.planning.metrics import MeasuredMetrics
from wms2.planning.params import PlanInputs, RoleResources, RoundParams, RoundPlan
from wms2.planning.splitters import (
    SplittingError,
    files_without_lumis,
    split_event_aware_lumis,
    split_events,
    split_files,
    split_generation,
    split_lumis,
)
from wms2.planning.types import InputFile, Job, WorkUnit
from wms2.planning.work_units import cut_work_units, limit_jobs_to_file_boundary

PLANNABLE_STATES = frozenset({InputFileState.new, InputFileState.attempted})
LUMI_ALGOS = frozenset({SplittingAlgo.LumiBased, SplittingAlgo.EventAwareLumiBased})


class PlanningError(ValueError):
    """The round cannot be planned (message names the field or setting at fault)."""


def plan_round(inputs: PlanInputs) -> RoundPlan:
    params = size_round(inputs)
    plan = _plan_generation(inputs, params) if inputs.spec.is_generation else _plan_input(inputs, params)
    problems = limit_problems(len(plan.jobs), len(plan.work_units), plan.total_nodes, inputs.planning, "round")
    if problems:
        raise PlanningError("; ".join(problems))
    plan.blocks = plan_blocks(inputs.spec.output_datasets, plan.work_units)
    return plan


# -- sizing ----------------------------------------------------------------------------------------
@dataclass
class _Measured:
    events_per_job: int | None
    cores: int
    factor: int = 1
    memory: int | None = None
    jobs_per_group: int | None = None
    oversized: tuple[str, ...] = ()
    peak: float = 0.0
    wall_per_event_s: float | None = None


def _apply_measurements(inputs: PlanInputs, m: MeasuredMetrics, epj: int | None, fraction: float,
                        max_merge: int, prev_peak: float) -> _Measured:
    """Round >= 1 of an adaptive request: tune events per job, cores, memory and WU size."""
    r, p = inputs.resources, inputs.planning
    out = _Measured(epj, inputs.spec.resources.multicore, peak=max(prev_peak, m.peak_rss_mb or 0.0),
                    wall_per_event_s=m.wall_per_event_s)
    prev_epj = int(inputs.previous.get("base_events_per_job") or epj or 0) or None
    if prev_epj and m.wall_per_event_s and not inputs.overrides.events_per_job:
        out.events_per_job = sizing.tune_events_per_job(
            prev_epj, m.wall_per_event_s, r.target_wall_time_s, r.wall_time_overhead_s,
            r.events_per_job_max_change, r.events_per_job_rounding)
    if m.cpu_efficiency is not None:
        split = sizing.split_cores(out.cores, m.cpu_efficiency, r.min_request_cpus)
        out.cores, out.factor = split.cores, split.factor
    if m.peak_rss_mb is not None:
        out.memory = sizing.measured_memory_mb(m.peak_rss_mb, out.cores, r.memory_safety_margin,
                                               r.min_request_memory_mb, r.max_memory_per_core_mb, prev_peak)
    job_epj = sizing.scaled(out.events_per_job, fraction / out.factor) if out.events_per_job else None
    if job_epj and m.bytes_per_event:
        per_job = {t: b * job_epj for t, b in m.bytes_per_event.items()}
        out.jobs_per_group = sizing.jobs_per_group(per_job, max_merge, p.oversized_fraction, 1.0,
                                                   p.max_jobs_per_work_unit, p.jobs_per_work_unit)
        out.oversized = tuple(sorted(sizing.oversized_tiers(per_job, max_merge, p.oversized_fraction)))
    return out


def size_round(inputs: PlanInputs) -> RoundParams:
    """Round 0 / non-adaptive / unmeasured: request hints; otherwise measured (design §7.5)."""
    spec, p, r = inputs.spec, inputs.planning, inputs.resources
    rnd = inputs.workflow.round
    fraction = sizing.effective_fraction(rnd, spec.adaptive, p.pilot_fraction, p.test_fraction)
    # The merge target shrinks with test_fraction (design §7.2).
    max_merge = int((spec.max_merge_size or p.max_merge_size_bytes) * p.test_fraction)
    base_epj = inputs.overrides.events_per_job or spec.splitting.events_per_job
    prev_peak = float(inputs.previous.get("historical_peak_rss_mb", 0.0) or 0.0)
    try:
        memory = sizing.round0_memory_mb(spec.resources.memory_mb, spec.resources.multicore,
                                         r.default_memory_per_core_mb, r.max_memory_per_core_mb)
    except sizing.SizingError as exc:
        raise PlanningError(str(exc)) from None
    m = inputs.metrics
    measured = spec.adaptive and rnd > 0 and m is not None
    adj = (_apply_measurements(inputs, m, base_epj, fraction, max_merge, prev_peak) if measured and m
           else _Measured(base_epj, spec.resources.multicore, peak=prev_peak))
    memory = inputs.overrides.memory_mb or adj.memory or memory
    cores = adj.cores
    if r.max_request_cpus:
        cores = min(cores, r.max_request_cpus)
    if r.max_request_memory_mb:
        memory = min(memory, r.max_request_memory_mb)
    epj = adj.events_per_job
    job_epj = sizing.scaled(epj, fraction / adj.factor) if epj else None
    ratio = (job_epj / base_epj) if (job_epj and base_epj) else fraction
    est_events = job_epj or _estimated_events(inputs, spec.splitting.files_per_job)
    wall_per_event = adj.wall_per_event_s or spec.resources.time_per_event_s
    return RoundParams(
        round=rnd, adaptive=spec.adaptive, source="measured" if measured else "request",
        effective_fraction=fraction, base_events_per_job=epj, events_per_job=job_epj,
        lumis_per_job=sizing.scaled(spec.splitting.lumis_per_job, ratio),
        files_per_job=spec.splitting.files_per_job, jobs_per_group=adj.jobs_per_group or p.jobs_per_work_unit,
        request_cpus=cores, request_memory_mb=int(memory),
        request_disk_kb=max(1, math.ceil(est_events * spec.resources.size_per_event_kb)),
        wall_time_estimate_s=max(1, math.ceil(est_events * wall_per_event * adj.factor)),
        split_factor=adj.factor, historical_peak_rss_mb=adj.peak, max_merge_size=max_merge,
        oversized_tiers=adj.oversized,
    )


def _estimated_events(inputs: PlanInputs, files_per_job: int) -> int:
    """Events per job when the splitting has no event target: the mean file times files per job."""
    files = [f for f in inputs.files if f.state in PLANNABLE_STATES]
    if not files:
        return 1
    return max(1, round(sum(f.events for f in files) / len(files) * files_per_job))


# -- generation ------------------------------------------------------------------------------------
def _plan_generation(inputs: PlanInputs, params: RoundParams) -> RoundPlan:
    spec, wf, p = inputs.spec, inputs.workflow, inputs.planning
    split = spec.splitting
    if split.request_num_events is None or params.events_per_job is None:
        raise PlanningError("splitting: generation needs RequestNumEvents and EventsPerJob")
    if wf.events_produced is not None:
        # design §7.1: remaining_generated = remaining_output / efficiency
        remaining = max(0, math.ceil((split.request_num_events - wf.events_produced) / split.filter_efficiency))
    else:
        total_generated = math.ceil(split.request_num_events / split.filter_efficiency)
        remaining = max(0, total_generated - (wf.next_first_event - split.first_event))
    limit = sizing.round_job_limit(wf.round, spec.adaptive, params.jobs_per_group, p.first_round_work_units,
                                   p.work_units_per_round)
    count = -(-remaining // params.events_per_job)
    if count > p.max_jobs_per_request:
        raise PlanningError(f"{count} jobs needed, above planning.max_jobs_per_request ({p.max_jobs_per_request})")
    per_lumi = params.jobs_per_group if split.filter_efficiency < p.low_filter_efficiency else 1
    jobs = split_generation(remaining, params.events_per_job, wf.next_first_event, wf.next_lumi,
                            jobs_per_lumi=per_lumi, max_jobs=limit)
    plan = _base_plan(inputs, params, jobs)
    plan.events = sum(j.events for j in jobs)
    if jobs:
        plan.first_event = jobs[0].first_event
        plan.last_event = wf.next_first_event + plan.events - 1
        plan.lumis = len({lumi for j in jobs for ls in j.lumis.values() for lumi in ls})
    plan.next_first_event = wf.next_first_event + plan.events
    plan.next_lumi = wf.next_lumi + -(-len(jobs) // per_lumi)
    plan.work_remaining = plan.events < remaining
    return plan


# -- input-driven ----------------------------------------------------------------------------------
def _split_input(inputs: PlanInputs, params: RoundParams, files: Sequence[InputFile]) -> list[Job]:
    split = inputs.spec.splitting
    algo = split.algo
    epj = params.events_per_job
    try:
        if algo is SplittingAlgo.FileBased:
            return split_files(files, params.files_per_job, split.group_by_location)
        if algo is SplittingAlgo.LumiBased:
            return split_lumis(files, params.lumis_per_job, split.mix_runs)
        if epj is None:
            raise PlanningError(f"splitting: {algo} needs EventsPerJob (or TimePerEvent to derive it)")
        if algo is SplittingAlgo.EventBased:
            return split_events(files, epj)
        return split_event_aware_lumis(files, epj, split.mix_runs)
    except SplittingError as exc:
        raise PlanningError(f"splitting: {exc}") from None


def _plan_input(inputs: PlanInputs, params: RoundParams) -> RoundPlan:
    spec, wf, p = inputs.spec, inputs.workflow, inputs.planning
    plannable = [f for f in inputs.files if f.state in PLANNABLE_STATES]
    # Operator exclusions, and files a lumi-based splitter cannot place, become ``excluded``.
    excluded = {f.lfn for f in plannable if f.lfn in inputs.overrides.excluded_lfns}
    if spec.splitting.algo in LUMI_ALGOS:
        excluded.update(files_without_lumis(plannable))
    available = [f for f in plannable if f.lfn not in excluded]
    jobs = _split_input(inputs, params, available)
    limit = sizing.round_job_limit(wf.round, spec.adaptive, params.jobs_per_group, p.first_round_work_units,
                                   p.work_units_per_round)
    jobs = limit_jobs_to_file_boundary(jobs, limit)
    plan = _base_plan(inputs, params, jobs, {f.lfn: f for f in available})
    planned = {s.lfn for j in jobs for s in j.inputs}
    plan.files = sorted(planned)
    plan.excluded_files = sorted(excluded)
    plan.events = sum(j.events for j in jobs)
    plan.lumis = sum(len(ls) for j in jobs for ls in j.lumis.values())
    plan.work_remaining = len(planned) < len(available)
    return plan


# -- shared ----------------------------------------------------------------------------------------
def _base_plan(inputs: PlanInputs, params: RoundParams, jobs: list[Job],
               by_lfn: dict[str, InputFile] | None = None) -> RoundPlan:
    spec = inputs.spec
    denied = tuple(sorted(set(spec.site_blacklist) | set(inputs.site_bans)))
    allowed = tuple(s for s in dict.fromkeys(spec.site_whitelist) if s not in denied)
    if spec.site_whitelist and not allowed:
        raise PlanningError("site_whitelist: every whitelisted site is blacklisted or banned")
    wus = cut_work_units(jobs, params.jobs_per_group)
    if by_lfn:
        for wu in wus:
            wu.sites = _location_constraint(wu, by_lfn, allowed, denied)
    return RoundPlan(
        round=inputs.workflow.round, params=params, jobs=jobs, work_units=wus, blocks=[],
        resources=_role_resources(inputs, params), allowed_sites=allowed, denied_sites=denied,
    )


def _location_constraint(wu: WorkUnit, by_lfn: dict[str, InputFile], allowed: tuple[str, ...],
                         denied: tuple[str, ...]) -> tuple[str, ...]:
    """Sites holding a disk replica of every input of the WU (and usable); () when none qualify,
    in which case the jobs read remotely and no location constraint is written."""
    common: set[str] | None = None
    for lfn in wu.input_lfns():
        f = by_lfn.get(lfn)
        sites = set(f.locations) if f else set()
        common = sites if common is None else common & sites
        if not common:
            return ()
    usable = (common or set()) - set(denied)
    if allowed:
        usable &= set(allowed)
    return tuple(sorted(usable))


def _role_resources(inputs: PlanInputs, params: RoundParams) -> dict[str, RoleResources]:
    p = inputs.planning
    proc = RoleResources(params.request_cpus, params.request_memory_mb, params.request_disk_kb,
                         params.wall_time_estimate_s)
    merge_disk = max(1, math.ceil(params.request_disk_kb * params.jobs_per_group * p.merge_disk_factor))
    return {
        "Landing": proc,
        "Processing": proc,
        "Merge": RoleResources(1, p.merge_memory_mb, merge_disk, p.min_wall_time_guard_s),
        "Cleanup": RoleResources(1, p.cleanup_memory_mb, p.cleanup_disk_kb, p.min_wall_time_guard_s),
    }
