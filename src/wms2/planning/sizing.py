"""Resource and size arithmetic of design §7.2, §7.4 and §7.5.  Pure functions, no I/O.

Every default comes from :class:`wms2.config.ResourceSettings` / :class:`PlanningSettings`; the
functions take the numbers explicitly so that the tests can pin the brief's worked examples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

# Geometric power-of-two rounding: x rounds to 2**k when 2**(k-1/2) <= x < 2**(k+1/2), i.e. the
# boundaries are sqrt(2)*2**k = 1.41, 2.83, 5.66, 11.3, ... (design §7.5).
SQRT2 = math.sqrt(2.0)


class SizingError(ValueError):
    """The request cannot be sized (e.g. memory per core above the ceiling); names the field."""


def round0_memory_mb(memory_mb: float, cores: int, default_per_core_mb: float, max_per_core_mb: float) -> int:
    """``max(Memory, default_memory_per_core x Multicore)``; refuses Memory/Multicore above the ceiling."""
    if cores < 1:
        raise SizingError(f"Multicore must be >= 1, got {cores}")
    if memory_mb / cores > max_per_core_mb:
        raise SizingError(
            f"Memory: {memory_mb:g} MB over {cores} cores is {memory_mb / cores:g} MB/core, above the"
            f" ceiling of {max_per_core_mb:g} MB/core"
        )
    return math.ceil(max(memory_mb, default_per_core_mb * cores))


def measured_memory_mb(peak_rss_mb: float, cores: int, margin: float, floor_mb: float, max_per_core_mb: float,
                       historical_peak_mb: float = 0.0) -> int:
    """Round >= 1: ``clamp(peak x (1 + margin), floor, max_per_core x cores)``, never below the
    historical peak of earlier rounds (itself capped by the ceiling)."""
    ceiling = max_per_core_mb * cores
    value = min(max(peak_rss_mb * (1.0 + margin), floor_mb), ceiling)
    return math.ceil(max(value, min(historical_peak_mb, ceiling)) - 1e-9)


def round_to_step(value: float, step: int) -> int:
    """Nearest multiple of ``step`` (never below ``step``; below it, the nearest integer >= 1)."""
    if value < step:
        return max(1, round(value))
    return max(step, round(value / step) * step)


def tune_events_per_job(current: int, wall_per_event_s: float, target_wall_s: float, overhead_s: float,
                        max_change: float, step: int) -> int:
    """``ideal = (target - overhead) / wall_per_event``, changed at most x``max_change`` or
    /``max_change`` from ``current``, rounded to ``step``."""
    if wall_per_event_s <= 0:
        return current
    ideal = (target_wall_s - overhead_s) / wall_per_event_s
    bounded = min(max(ideal, current / max_change), current * max_change)
    return round_to_step(bounded, step)


def power_of_two_round(x: float) -> int:
    """Geometric rounding to a power of two (boundaries 1.41, 2.83, 5.66, 11.3, ...); at least 1."""
    if x <= SQRT2:
        return 1
    return 2 ** math.floor(math.log2(x / SQRT2) + 1)


@dataclass(frozen=True)
class CoreSplit:
    cores: int
    factor: int  # jobs multiply by this, events per job divide by it


def split_cores(requested_cores: int, cpu_efficiency: float, min_request_cpus: int) -> CoreSplit:
    """When efficiency x cores rounds (power of two) below the request, ask fewer cores per job
    (not below ``min_request_cpus``) and run proportionally more jobs."""
    if requested_cores <= min_request_cpus or cpu_efficiency <= 0:
        return CoreSplit(requested_cores, 1)
    useful = power_of_two_round(cpu_efficiency * requested_cores)
    if useful >= requested_cores:
        return CoreSplit(requested_cores, 1)
    cores = max(useful, min_request_cpus)
    factor = max(1, requested_cores // cores)
    return CoreSplit(requested_cores // factor, factor)


def oversized_tiers(bytes_per_job: Mapping[str, float], max_merge_size: float, oversized_fraction: float) -> set[str]:
    return {tier for tier, size in bytes_per_job.items() if size >= oversized_fraction * max_merge_size}


def jobs_per_group(bytes_per_job: Mapping[str, float], max_merge_size: float, oversized_fraction: float,
                   test_fraction: float, max_jobs: int, default: int) -> int:
    """WU size from measured per-job output per tier: ``clamp(round(target / smallest
    non-oversized per-job output), 1, max_jobs)``, ``target = max_merge_size x test_fraction``.
    With no measurement, or every tier oversized (nothing to merge), ``default``."""
    big = oversized_tiers(bytes_per_job, max_merge_size, oversized_fraction)
    sizes = [s for t, s in bytes_per_job.items() if t not in big and s > 0]
    if not sizes:
        return default
    target = max_merge_size * test_fraction
    return min(max(round(target / min(sizes)), 1), max_jobs)


def effective_fraction(round_index: int, adaptive: bool, pilot_fraction: float, test_fraction: float) -> float:
    """Round 0 of an adaptive request: ``min(pilot_fraction, test_fraction)``; otherwise ``test_fraction``."""
    if adaptive and round_index == 0:
        return min(pilot_fraction, test_fraction)
    return test_fraction


def scaled(value: int, fraction: float) -> int:
    """``value x fraction``, at least 1."""
    return max(1, round(value * fraction))


def work_unit_count(jobs: int, per_group: int) -> int:
    return -(-jobs // per_group)


def node_count(jobs: int, per_group: int) -> int:
    """Processing nodes plus landing, merge and cleanup per WU."""
    return jobs + 3 * work_unit_count(jobs, per_group)


def round_job_limit(round_index: int, adaptive: bool, per_group: int, first_round_wus: int,
                    wus_per_round: int) -> int | None:
    """Jobs a round may hold: adaptive round 0 is the pilot, later rounds ``wus_per_round`` WUs;
    non-adaptive requests take everything (None)."""
    if not adaptive:
        return None
    return per_group * (first_round_wus if round_index == 0 else wus_per_round)
