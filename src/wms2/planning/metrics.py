"""Read the measurements the planner needs from a workflow's ``step_metrics`` (design §7.6).

Accepted shape (what the metrics aggregation writes; extra keys are ignored)::

    {"steps": [{"step": "s1", "jobs_sampled": 8, "threads": 4,
                "metrics": {"peak_rss_mb": {"median": .., "max": ..},
                            "wall_per_event_s": {"median": ..}, "cpu_efficiency": {"median": ..},
                            "bytes_per_event_AODSIM": {"median": ..}, ...}}, ...]}

``steps`` may also be an object keyed by step name.  Anything unusable gives ``None`` (the round is
then sized from the request hints).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

BYTES_PER_EVENT_PREFIX = "bytes_per_event_"


@dataclass(frozen=True)
class MeasuredMetrics:
    jobs_sampled: int
    peak_rss_mb: float | None = None  # max over steps and jobs
    wall_per_event_s: float | None = None  # sum over steps of the median
    cpu_efficiency: float | None = None  # step 0 median
    threads: int | None = None  # step 0 threads
    bytes_per_event: dict[str, float] = field(default_factory=dict)  # tier -> median bytes per event
    steps: dict[str, dict[str, float]] = field(default_factory=dict)  # step -> {measure: median}


def _stat(metrics: Mapping[str, Any], name: str, key: str) -> float | None:
    value = metrics.get(name)
    if isinstance(value, Mapping):
        value = value.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def parse_step_metrics(doc: Mapping[str, Any] | None) -> MeasuredMetrics | None:
    if not doc:
        return None
    steps = doc.get("steps")
    if isinstance(steps, Mapping):
        steps = [{"step": k, **v} for k, v in steps.items() if isinstance(v, Mapping)]
    if not isinstance(steps, list) or not steps:
        return None
    sampled = 0
    peak: float | None = None
    wall = 0.0
    have_wall = False
    per_tier: dict[str, float] = {}
    profile: dict[str, dict[str, float]] = {}
    first = steps[0] if isinstance(steps[0], Mapping) else {}
    for step in steps:
        if not isinstance(step, Mapping) or not isinstance(step.get("metrics"), Mapping):
            continue
        m = step["metrics"]
        sampled = max(sampled, int(step.get("jobs_sampled", 0) or 0))
        rss = _stat(m, "peak_rss_mb", "max")
        if rss is not None:
            peak = rss if peak is None else max(peak, rss)
        wpe = _stat(m, "wall_per_event_s", "median")
        if wpe is not None:
            wall += wpe
            have_wall = True
        for name in m:
            if name.startswith(BYTES_PER_EVENT_PREFIX):
                v = _stat(m, name, "median")
                if v is not None:
                    tier = name[len(BYTES_PER_EVENT_PREFIX):]
                    per_tier[tier] = per_tier.get(tier, 0.0) + v
        profile[str(step.get("step", len(profile)))] = {
            k: v for k in m if (v := _stat(m, k, "median")) is not None
        } | ({"peak_rss_mb_max": rss} if rss is not None else {})
    if sampled == 0:
        return None
    threads = first.get("threads") if isinstance(first.get("threads"), int) else None
    eff = _stat(first.get("metrics", {}), "cpu_efficiency", "median") if isinstance(first, Mapping) else None
    return MeasuredMetrics(sampled, peak, wall if have_wall else None, eff, threads, per_tier, profile)
