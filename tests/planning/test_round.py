"""plan_round: round sizes, offsets across rounds, adaptive sizing, input bookkeeping, site constraints."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from wms2.config import Settings
from wms2.domain.enums import InputFileState
from wms2.domain.reqmgr import import_request
from wms2.planning.metrics import MeasuredMetrics, parse_step_metrics
from wms2.planning.params import Overrides, WorkflowState
from wms2.planning.round import PlanningError, plan_round
from wms2.planning.types import InputFile

from .conftest import data_document, inputs_for, mc_document


def test_non_adaptive_generation_plans_everything(plan_settings: Settings) -> None:
    spec = import_request(mc_document(WMS2Adaptive=False))
    plan = plan_round(inputs_for(spec, plan_settings))
    assert (len(plan.jobs), len(plan.work_units), plan.total_nodes) == (100, 13, 139)
    assert plan.nodes_by_role == {"Landing": 13, "Processing": 100, "Merge": 13, "Cleanup": 13}
    assert plan.total_edges == 2 * 100 + 13
    assert (plan.first_event, plan.last_event, plan.events) == (1, 1_000_000, 1_000_000)
    assert plan.next_first_event == 1_000_001 and not plan.work_remaining
    assert [b.dataset for b in plan.blocks] == ["/TestPrimary/TestEra-Test-v1/GEN-SIM"]
    assert plan.blocks[0].work_units == tuple(w.name for w in plan.work_units)
    assert plan.params.request_memory_mb == 2000 and plan.params.request_disk_kb == 100_000


def test_adaptive_rounds_chain_without_gap_or_overlap(plan_settings: Settings) -> None:
    spec = import_request(mc_document(RequestNumEvents=200_000))
    state = WorkflowState("7", 0, 1, 1)
    covered = []
    for rnd in range(30):
        plan = plan_round(inputs_for(spec, plan_settings, workflow=state))
        if rnd == 0:
            assert len(plan.jobs) == 8 and plan.params.events_per_job == 100  # pilot: 1 WU x 8, 1 % of 10,000
        else:
            assert len(plan.work_units) <= 10
        covered += [(j.first_event, j.first_event + j.events - 1) for j in plan.jobs]
        if not plan.work_remaining:
            break
        state = WorkflowState("7", rnd + 1, plan.next_first_event, plan.next_lumi)
    else:
        pytest.fail("work never finished")
    assert covered[0][0] == 1 and covered[-1][1] == 200_000
    assert all(b[0] == a[1] + 1 for a, b in pairwise(covered))


def test_filter_efficiency_sizes_generated_events(plan_settings: Settings) -> None:
    spec = import_request(mc_document(WMS2Adaptive=False, RequestNumEvents=1000, FilterEfficiency=0.004,
                                      EventsPerJob=50_000))
    plan = plan_round(inputs_for(spec, plan_settings))
    assert plan.events == 250_000  # 1000 output events / 0.004
    lumis = {lumi for j in plan.jobs for ls in j.lumis.values() for lumi in ls}
    assert len(lumis) == len(plan.work_units), "very low efficiency: one lumi per WU"


METRICS = {"steps": [{"step": "s1", "jobs_sampled": 8, "threads": 8, "metrics": {
    "peak_rss_mb": {"median": 4000, "min": 3000, "max": 5200},
    "wall_per_event_s": {"median": 2.0, "min": 1.0, "max": 3.0},
    "cpu_efficiency": {"median": 0.535, "min": 0.5, "max": 0.6},
    "bytes_per_event_GEN-SIM": {"median": 10_000, "min": 1, "max": 1},
}}]}


def test_measured_round_uses_metrics(plan_settings: Settings) -> None:
    spec = import_request(mc_document(Multicore=8, Memory=16000, RequestNumEvents=10_000_000))
    metrics = parse_step_metrics(METRICS)
    assert isinstance(metrics, MeasuredMetrics)
    plan = plan_round(inputs_for(spec, plan_settings, workflow=WorkflowState("7", 1, 801, 9), metrics=metrics,
                                 previous={"base_events_per_job": 10_000, "historical_peak_rss_mb": 5000}))
    p = plan.params
    assert p.source == "measured"
    assert p.request_cpus == 4 and p.split_factor == 2
    assert p.request_memory_mb == 6240
    assert p.base_events_per_job == 14_100 and p.events_per_job == 7_050
    # 4 GiB / (10 kB x 7050) = 60.9 -> 61 jobs per WU
    assert p.jobs_per_group == 61
    assert len(plan.jobs) == 61 * 10
    assert plan.jobs[0].first_event == 801


def test_operator_memory_override_wins(plan_settings: Settings) -> None:
    spec = import_request(mc_document())
    plan = plan_round(inputs_for(spec, plan_settings, overrides=Overrides(memory_mb=9999)))
    assert plan.resources["Processing"].memory_mb == 9999 == plan.resources["Landing"].memory_mb


def _files(n: int) -> tuple[InputFile, ...]:
    return tuple(InputFile(f"/store/data/f{i:03d}.root", 1000, lumis=((1, tuple(range(10 * i + 1, 10 * i + 11))),),
                           locations=("T2_CH_CERN",)) for i in range(n))


def test_input_round_ends_on_a_file_boundary_and_skips_done_files(plan_settings: Settings) -> None:
    spec = import_request(data_document("EventBased"))
    files = list(_files(6))
    files[0] = InputFile(files[0].lfn, 1000, lumis=files[0].lumis, state=InputFileState.processed)
    files[1] = InputFile(files[1].lfn, 1000, lumis=files[1].lumis, state=InputFileState.excluded)
    plan = plan_round(inputs_for(spec, plan_settings, files=tuple(files)))
    # pilot: 1 % of 250 -> 2-3 events/job; 8 jobs would cut file 2 in the middle: extend to its end
    assert plan.files == [files[2].lfn]
    assert plan.events == 1000 and plan.work_remaining
    assert all(wu.sites == ("T2_CH_CERN",) for wu in plan.work_units)


def test_lumi_based_excludes_files_without_lumis(plan_settings: Settings) -> None:
    spec = import_request(data_document("LumiBased", WMS2Adaptive=False))
    files = (*_files(3), InputFile("/store/data/nolumi.root", 50))
    plan = plan_round(inputs_for(spec, plan_settings, files=files))
    assert plan.excluded_files == ["/store/data/nolumi.root"]
    assert plan.lumis == 30 and plan.events == 3000 and not plan.work_remaining


def test_site_lists_and_bans(plan_settings: Settings) -> None:
    spec = import_request(mc_document(SiteWhitelist=["T2_CH_CERN", "T1_US_FNAL"], SiteBlacklist=["T2_DE_DESY"]))
    plan = plan_round(inputs_for(spec, plan_settings, site_bans=("T1_US_FNAL",)))
    assert plan.allowed_sites == ("T2_CH_CERN",)
    assert plan.denied_sites == ("T1_US_FNAL", "T2_DE_DESY")
    with pytest.raises(PlanningError, match="site_whitelist"):
        plan_round(inputs_for(spec, plan_settings, site_bans=("T1_US_FNAL", "T2_CH_CERN")))


def test_absurd_sizes_are_refused(plan_settings: Settings) -> None:
    spec = import_request(mc_document(WMS2Adaptive=False, RequestNumEvents=10**10, EventsPerJob=1))
    with pytest.raises(PlanningError, match="max_jobs_per_request"):
        plan_round(inputs_for(spec, plan_settings))


def test_small_pool_caps(tmp_path: Path) -> None:
    from wms2.config import load_settings

    settings = load_settings(tmp_path / "h", resources={"max_request_cpus": 4, "max_request_memory_mb": 8000})
    spec = import_request(mc_document(Multicore=8, Memory=16000))
    plan = plan_round(inputs_for(spec, settings))
    assert (plan.params.request_cpus, plan.params.request_memory_mb) == (4, 8000)
