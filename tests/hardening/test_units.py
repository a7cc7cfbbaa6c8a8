"""Pure pieces of the hardening: audit folding, path segments, request size estimate."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from wms2.config import PlanningSettings
from wms2.domain.reqmgr import import_request
from wms2.domain.safety import DatasetName, Lfn, LfnBase
from wms2.domain.transitions import append_audit
from wms2.planning.estimate import estimate_request_size, limit_problems, size_problems

from .hostile import mc_base


def _e(frm: str, to: str, reason: str, at: int) -> dict[str, Any]:
    return {"from": frm, "to": to, "at": f"2026-12-03T06:{at:02d}:00+00:00", "by": "wms2", "reason": reason}


def test_a_ping_pong_folds_into_two_entries_with_counts() -> None:
    trail: list[dict[str, Any]] = [_e("submitted", "queued", "validated", 0)]
    for minute in range(1, 41, 2):
        trail = append_audit(trail, _e("queued", "planning", "admitted", minute))
        trail = append_audit(trail, _e("planning", "queued", "deferred: x", minute + 1))
    assert [(t["to"], t.get("count", 1)) for t in trail] == [("queued", 1), ("planning", 20), ("queued", 20)]
    assert trail[1]["at"].endswith("06:01:00+00:00") and trail[2]["last_at"].endswith("06:40:00+00:00")


def test_an_incomplete_cycle_keeps_the_true_order() -> None:
    trail: list[dict[str, Any]] = []
    for entry in (_e("queued", "planning", "admitted", 1), _e("planning", "queued", "deferred", 2),
                  _e("queued", "planning", "admitted", 3), _e("planning", "active", "submitted", 4)):
        trail = append_audit(trail, entry)
    assert [t["to"] for t in trail] == ["planning", "queued", "planning", "active"]
    assert all("count" not in t for t in trail)


def test_different_reasons_are_not_folded() -> None:
    trail = append_audit([_e("active", "queued", "round 0 done", 1)], _e("active", "queued", "round 1 done", 2))
    assert len(trail) == 2


@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=200))
def test_cycles_over_few_reasons_stay_bounded(reasons: list[str]) -> None:
    """However the deferral reason flaps between (up to) two values, the trail stays short; with three
    it stays bounded by the distinct cycles, never growing with the number of repetitions of one."""
    trail: list[dict[str, Any]] = []
    for i, reason in enumerate(reasons):
        trail = append_audit(trail, _e("queued", "planning", "admitted", i % 60))
        trail = append_audit(trail, _e("planning", "queued", reason, i % 60))
    assert sum(t.get("count", 1) for t in trail) == 2 * len(reasons)  # every move is accounted for
    if len(set(reasons)) == 1:
        assert len(trail) == 2


@pytest.mark.parametrize("value", ["/store/../../etc", "/store/./mc", "/store//mc", "/store/mc/..", "/store/..",
                                   "/store/mc/../data/"])
def test_lfn_bases_refuse_dot_segments(value: str) -> None:
    with pytest.raises(ValidationError, match="segment"):
        TypeAdapter(LfnBase).validate_python(value)


@pytest.mark.parametrize("value", ["/store/data/../x.root", "/store/./x.root", "/store//x.root"])
def test_lfns_refuse_dot_segments(value: str) -> None:
    with pytest.raises(ValidationError, match="segment"):
        TypeAdapter(Lfn).validate_python(value)


@pytest.mark.parametrize("value", ["/../x/AOD", "/P/../AOD", "/./E-v1/AOD"])
def test_dataset_names_refuse_dot_segments(value: str) -> None:
    with pytest.raises(ValidationError, match="segment"):
        TypeAdapter(DatasetName).validate_python(value)


@pytest.mark.parametrize("value", ["/store/mc", "/store/mc/", "/store/backfill/1", "/store/a..b/c.d"])
def test_ordinary_lfn_bases_pass(value: str) -> None:
    assert TypeAdapter(LfnBase).validate_python(value) == value


def test_estimate_matches_the_generation_planner_arithmetic() -> None:
    spec = import_request({**mc_base(), "RequestNumEvents": 1_000_000, "EventsPerJob": 1000,
                           "FilterEfficiency": 0.5, "WMS2Adaptive": False})
    size = estimate_request_size(spec, PlanningSettings())
    assert size is not None
    assert (size.generated_events, size.jobs, size.work_units) == (2_000_000, 2000, 250)
    assert size.largest_dag_nodes == 2000 + 3 * 250


def test_size_problems_name_the_setting() -> None:
    spec = import_request({**mc_base(), "RequestNumEvents": 10**9, "EventsPerJob": 1})
    problems = size_problems(spec, PlanningSettings())
    assert {p.field for p in problems} == {"splitting.events_per_job"}
    assert "1000000000 jobs, above planning.max_jobs_per_request (2000000)" in problems[0].message
    assert "125000000 work units, above planning.max_work_units_per_request (250000)" in problems[1].message
    assert limit_problems(10, 10, 10, PlanningSettings(max_dag_nodes=5)) == [
        "request needs a DAG of 10 nodes, above planning.max_dag_nodes (5)"]
