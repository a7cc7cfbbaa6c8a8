"""Per-step aggregates of a work unit's processing jobs (``work_unit_metrics.json``, design §7.6)."""

from __future__ import annotations

import statistics

from wms2.sandbox.report import JobReport, StepMetrics
from wms2.sandbox.results import MetricStat, StepMetricsSummary, WorkUnitMetrics


def _values(metrics: StepMetrics) -> dict[str, float]:
    values = {
        "wall_s": metrics.wall_s,
        "cpu_s": metrics.cpu_s,
        "cpu_efficiency": metrics.cpu_efficiency,
        "peak_rss_mb": metrics.peak_rss_mb,
        "events_read": float(metrics.events_read),
        "events_written": float(metrics.events_written),
    }
    events = metrics.events_read or metrics.events_written
    if events:
        values["wall_per_event_s"] = metrics.wall_s / events
    for tier, size in metrics.bytes_written.items():
        values[f"bytes_written_{tier}"] = float(size)
        if metrics.events_written:
            values[f"bytes_per_event_{tier}"] = size / metrics.events_written
    return values


def aggregate(work_unit: str, reports: list[JobReport], site: str | None) -> WorkUnitMetrics:
    """Median, min and max of every metric per step over the successful jobs' reports."""
    good = [r for r in reports if r.exit_code == 0]
    per_step: dict[str, list[StepMetrics]] = {}
    order: dict[str, int] = {}
    for report in good:
        for step in report.steps:
            per_step.setdefault(step.name, []).append(step.metrics)
            order[step.name] = step.index
    summaries = []
    for name in sorted(per_step, key=lambda n: order[n]):
        samples = [_values(m) for m in per_step[name]]
        keys = sorted({k for s in samples for k in s})
        stats = {}
        for key in keys:
            column = [s[key] for s in samples if key in s]
            stats[key] = MetricStat(median=statistics.median(column), min=min(column), max=max(column))
        summaries.append(
            StepMetricsSummary(
                step=name,
                jobs_sampled=len(samples),
                threads=max(m.threads for m in per_step[name]),
                metrics=stats,
            )
        )
    return WorkUnitMetrics(work_unit=work_unit, jobs_sampled=len(good), site=site, steps=summaries)
