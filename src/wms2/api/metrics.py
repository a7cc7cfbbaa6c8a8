"""Prometheus metrics (design §4 Metrics Collector): gauges computed from the database at scrape time
with a handful of aggregate queries, plus the API's own latency histogram."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wms2.api.cache import TtlCache
from wms2.config import Settings
from wms2.core.actions import effective_max_active_dags
from wms2.core.admission import slots_in_use
from wms2.db.session import Database
from wms2.db.tables import (
    AlertRow,
    DagRow,
    LifecycleCycleRow,
    ProcessingBlockRow,
    RequestRow,
    WorkflowRow,
)
from wms2.domain.enums import BlockStatus, DAGStatus, RequestStatus, WorkflowStatus

# Latency buckets (seconds): the CMS target is p99 < 0.5 s (design §11); finer below it.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LIVE_DAGS = (DAGStatus.submitted, DAGStatus.running, DAGStatus.halted)


def _by_status(session: Session, column, enum: type) -> dict[str, int]:  # type: ignore[no-untyped-def]
    counts = {str(s): 0 for s in enum}
    for status, n in session.execute(select(column, func.count()).group_by(column)).all():
        counts[str(status)] = int(n)
    return counts


class DatabaseCollector(Collector):
    def __init__(self, db: Database, settings: Settings, cache: TtlCache) -> None:
        self.db = db
        self.settings = settings
        self.cache = cache

    def describe(self) -> list[Metric]:
        return []  # no collection at registration time

    def collect(self) -> Iterator[Metric]:
        yield from self.cache.get("metrics", self._collect)

    def _collect(self) -> list[Metric]:
        with self.db.session() as session:
            return [*self._status_gauges(session), *self._admission(session), *self._dag_progress(session),
                    *self._alerts(session), *self._lifecycle(session)]

    def _status_gauges(self, session: Session) -> Iterator[Metric]:
        for name, column, enum, what in (
            ("wms2_requests", RequestRow.status, RequestStatus, "requests by status"),
            ("wms2_workflows", WorkflowRow.status, WorkflowStatus, "workflows by status"),
            ("wms2_dags", DagRow.status, DAGStatus, "DAGs by status"),
            ("wms2_blocks", ProcessingBlockRow.status, BlockStatus, "processing blocks by status"),
        ):
            gauge = GaugeMetricFamily(name, what, labels=["status"])
            for status, n in _by_status(session, column, enum).items():
                gauge.add_metric([status], n)
            yield gauge

    def _admission(self, session: Session) -> Iterator[Metric]:
        depth = session.scalar(select(func.count()).select_from(RequestRow)
                               .where(RequestRow.status == RequestStatus.queued))
        yield GaugeMetricFamily("wms2_admission_queue_depth", "requests waiting in the admission queue",
                                value=depth or 0)
        yield GaugeMetricFamily("wms2_admission_active_dags", "requests holding a DAG slot",
                                value=slots_in_use(session))
        yield GaugeMetricFamily("wms2_admission_max_active_dags", "the admission cap in force",
                                value=effective_max_active_dags(session, self.settings))

    def _dag_progress(self, session: Session) -> Iterator[Metric]:
        gauge = GaugeMetricFamily("wms2_dag_progress_ratio", "work units done / total of each live DAG",
                                  labels=["dag_id", "request"])
        rows = session.execute(
            select(DagRow.id, WorkflowRow.request_name, DagRow.node_counters, DagRow.total_work_units)
            .join(WorkflowRow, WorkflowRow.id == DagRow.workflow_id).where(DagRow.status.in_(LIVE_DAGS))
        ).all()
        for dag_id, request, counters, total in rows:
            done = int((counters or {}).get("wu_done", 0))
            gauge.add_metric([str(dag_id), request], done / total if total else 0.0)
        yield gauge

    def _alerts(self, session: Session) -> Iterator[Metric]:
        counter = CounterMetricFamily("wms2_alerts", "alerts raised, by kind", labels=["kind"])
        for kind, n in session.execute(select(AlertRow.kind, func.count()).group_by(AlertRow.kind)).all():
            counter.add_metric([kind], int(n))
        yield counter

    def _lifecycle(self, session: Session) -> Iterator[Metric]:
        last = session.scalar(select(LifecycleCycleRow).order_by(LifecycleCycleRow.id.desc()).limit(1))
        errors = session.scalar(select(func.coalesce(func.sum(LifecycleCycleRow.errors), 0)))
        yield GaugeMetricFamily("wms2_lifecycle_last_cycle_duration_seconds", "duration of the last cycle",
                                value=last.duration_s if last else 0.0)
        yield GaugeMetricFamily("wms2_lifecycle_last_cycle_timestamp_seconds", "start of the last cycle",
                                value=last.started_at.timestamp() if last else 0.0)
        yield GaugeMetricFamily("wms2_lifecycle_last_cycle_errors", "requests that raised in the last cycle",
                                value=last.errors if last else 0)
        yield GaugeMetricFamily("wms2_lifecycle_recent_errors", "errors over the retained cycle history",
                                value=int(errors or 0))


class ApiMetrics:
    """One registry per app (tests build many apps in one process)."""

    def __init__(self, db: Database, settings: Settings, cache: TtlCache) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram(
            "wms2_api_request_duration_seconds", "API request latency", ["method", "route", "status"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.registry.register(DatabaseCollector(db, settings, cache))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.latency.labels(method, route, str(status)).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
