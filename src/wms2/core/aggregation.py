"""Metrics aggregation (design §7.6): WU summaries → the round's ``step_metrics``.

Each WU's ``work_unit_metrics.json`` carries, per step, the median/min/max of each measure over its
jobs.  The round aggregate weights each WU's median by its jobs sampled (a weighted median: robust
to outliers), keeps the max of the maxima (peak RSS must not be averaged away) and the min of the
minima.  Across rounds the same weighting is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def weighted_median(pairs: Iterable[tuple[float, int]]) -> float:
    items = sorted((v, w) for v, w in pairs if w > 0)
    if not items:
        raise ValueError("no samples")
    total = sum(w for _, w in items)
    running = 0
    for value, weight in items:
        running += weight
        if running * 2 >= total:
            return value
    return items[-1][0]


def aggregate_steps(summaries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Combine per-WU (or per-round) step summaries into one ``{"steps": [...], "jobs_sampled": N}``."""
    by_step: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for summary in summaries:
        for step in summary.get("steps", []):
            name = str(step["step"])
            if name not in by_step:
                by_step[name] = {"threads": step.get("threads", 1), "jobs": 0, "metrics": {}}
                order.append(name)
            entry = by_step[name]
            n = int(step.get("jobs_sampled", 0))
            entry["jobs"] += n
            for metric, stat in step.get("metrics", {}).items():
                acc = entry["metrics"].setdefault(metric, {"medians": [], "max": None, "min": None})
                acc["medians"].append((float(stat["median"]), n))
                acc["max"] = stat["max"] if acc["max"] is None else max(acc["max"], stat["max"])
                acc["min"] = stat["min"] if acc["min"] is None else min(acc["min"], stat["min"])
    steps = []
    for name in order:
        entry = by_step[name]
        metrics = {
            metric: {"median": weighted_median(acc["medians"]) if any(w for _, w in acc["medians"]) else
                     acc["medians"][0][0], "max": acc["max"], "min": acc["min"]}
            for metric, acc in entry["metrics"].items() if acc["medians"]
        }
        steps.append({"step": name, "jobs_sampled": entry["jobs"], "threads": entry["threads"], "metrics": metrics})
    return {"steps": steps, "jobs_sampled": max((s["jobs_sampled"] for s in steps), default=0)}


def round_summary(step_metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The handful of figures shown per round (CLI rounds table, API, demo report)."""
    steps = step_metrics.get("steps", [])
    if not steps:
        return {}
    first = steps[0]["metrics"]
    peak = max((s["metrics"].get("peak_rss_mb", {}).get("max") or 0.0) for s in steps)
    wall = sum(s["metrics"].get("wall_s", {}).get("median", 0.0) for s in steps)
    return {
        "jobs_sampled": step_metrics.get("jobs_sampled", 0),
        "peak_rss_mb": round(peak, 1),
        "cpu_efficiency": round(first.get("cpu_efficiency", {}).get("median", 0.0), 3),
        "wall_s_median": round(wall, 2),
        "wall_per_event_s": round(sum(s["metrics"].get("wall_per_event_s", {}).get("median", 0.0)
                                      for s in steps), 6),
    }
