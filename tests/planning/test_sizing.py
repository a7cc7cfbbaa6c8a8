"""Sizing functions against the worked numbers of the design brief (§7.2, §7.4, §7.5)."""

from __future__ import annotations

import pytest

from wms2.config import PlanningSettings, ResourceSettings
from wms2.planning import sizing
from wms2.planning.splitters import split_generation
from wms2.planning.work_units import cut_work_units

R = ResourceSettings()
P = PlanningSettings()


def test_one_million_events_make_139_nodes() -> None:
    jobs = split_generation(1_000_000, 10_000)
    assert len(jobs) == 100
    wus = cut_work_units(jobs, P.jobs_per_work_unit)
    assert len(wus) == 13 == sizing.work_unit_count(100, 8)
    assert [len(w.jobs) for w in wus] == [8] * 12 + [4]
    assert sizing.node_count(100, 8) == 139 == 100 + 13 * 3


def test_measured_memory_adds_twenty_percent() -> None:
    assert sizing.measured_memory_mb(5200, 8, R.memory_safety_margin, R.min_request_memory_mb,
                                     R.max_memory_per_core_mb) == 6240


def test_measured_memory_clamps_and_keeps_historical_peak() -> None:
    assert sizing.measured_memory_mb(1000, 4, 0.2, 4000, 3000) == 4000  # lower clamp
    assert sizing.measured_memory_mb(20000, 4, 0.2, 4000, 3000) == 12000  # per-core ceiling
    assert sizing.measured_memory_mb(5200, 8, 0.2, 4000, 3000, historical_peak_mb=7000) == 7000
    assert sizing.measured_memory_mb(5200, 2, 0.2, 4000, 3000, historical_peak_mb=9000) == 6000


def test_round0_memory() -> None:
    assert sizing.round0_memory_mb(2300, 1, 2000, 3000) == 2300
    assert sizing.round0_memory_mb(15900, 8, 2000, 3000) == 16000
    with pytest.raises(sizing.SizingError, match=r"Memory.*3500 MB/core"):
        sizing.round0_memory_mb(14000, 4, 2000, 3000)


def test_eight_cores_at_0_535_efficiency_become_four_cores_and_twice_the_jobs() -> None:
    split = sizing.split_cores(8, 0.535, R.min_request_cpus)
    assert (split.cores, split.factor) == (4, 2)
    jobs_before = len(split_generation(1_000_000, 10_000))
    jobs_after = len(split_generation(1_000_000, 10_000 // split.factor))
    assert jobs_after == 2 * jobs_before


@pytest.mark.parametrize(("x", "expected"), [
    (0.5, 1), (1.40, 1), (1.42, 2), (2.82, 2), (2.84, 4), (5.65, 4), (5.67, 8), (11.2, 8), (11.4, 16),
])
def test_power_of_two_boundaries(x: float, expected: int) -> None:
    assert sizing.power_of_two_round(x) == expected


def test_core_split_respects_floor_and_good_efficiency() -> None:
    assert sizing.split_cores(8, 0.9, 4) == sizing.CoreSplit(8, 1)
    assert sizing.split_cores(16, 0.1, 4) == sizing.CoreSplit(4, 4)  # floor min_request_cpus
    assert sizing.split_cores(4, 0.1, 4) == sizing.CoreSplit(4, 1)  # already at the floor


def test_events_per_job_tuning() -> None:
    # ideal = (8 h - 600 s) / 2 s = 14,100 events; from 10,000 that is within x2.
    assert sizing.tune_events_per_job(10_000, 2.0, R.target_wall_time_s, R.wall_time_overhead_s, 2.0, 100) == 14_100
    # at most x2 or /2 per round, rounded to 100
    assert sizing.tune_events_per_job(1_000, 0.01, 28_800, 600, 2.0, 100) == 2_000
    assert sizing.tune_events_per_job(1_000, 1000.0, 28_800, 600, 2.0, 100) == 500
    assert sizing.tune_events_per_job(1_000, 20.0, 28_800, 600, 2.0, 100) == 1_400


def test_work_unit_size_from_measured_output() -> None:
    gib = 1024**3
    # 4 GiB target; AODSIM 100 MB/job -> 41 jobs; MINIAOD tiny -> bigger, but the smallest output rules
    per_job = {"AODSIM": 100 * 1024**2, "MINIAODSIM": 20 * 1024**2}
    assert sizing.jobs_per_group(per_job, 4 * gib, 0.75, 1.0, 100, 8) == 100  # 205 clamped to 100
    per_job = {"AODSIM": 100 * 1024**2, "GEN-SIM": 3.5 * gib}  # GEN-SIM oversized (>= 3 GiB): ignored
    assert sizing.oversized_tiers(per_job, 4 * gib, 0.75) == {"GEN-SIM"}
    assert sizing.jobs_per_group(per_job, 4 * gib, 0.75, 1.0, 100, 8) == 41
    assert sizing.jobs_per_group(per_job, 4 * gib, 0.75, 0.5, 100, 8) == 20  # test_fraction halves the target
    assert sizing.jobs_per_group({"RAW": 4 * gib}, 4 * gib, 0.75, 1.0, 100, 8) == 8  # nothing to merge: default


def test_round_size_and_effective_fraction() -> None:
    assert sizing.effective_fraction(0, True, P.pilot_fraction, P.test_fraction) == 0.01
    assert sizing.effective_fraction(0, True, 0.01, 0.001) == 0.001
    assert sizing.effective_fraction(3, True, 0.01, 0.5) == 0.5
    assert sizing.effective_fraction(0, False, 0.01, 1.0) == 1.0
    assert sizing.round_job_limit(0, True, 8, P.first_round_work_units, P.work_units_per_round) == 8
    assert sizing.round_job_limit(1, True, 8, 1, 10) == 80
    assert sizing.round_job_limit(0, False, 8, 1, 10) is None
