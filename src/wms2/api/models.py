"""Request and response models of the REST API (they make the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from wms2.domain.enums import BlockStatus, CleanupPolicy, DAGStatus, RequestStatus, SiteStatus, WorkflowStatus
from wms2.domain.request import MAX_PRIORITY
from wms2.domain.safety import SITE_PATTERN

T = TypeVar("T")
MAX_REASON = 500
NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # printable text (tabs and newlines allowed)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageOf(_Out, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


# -- inputs --------------------------------------------------------------------------------------
class Reason(_In):
    reason: str = Field(min_length=1, max_length=MAX_REASON, pattern=NO_CONTROL,
                        description="why (kept in the audit trail)")


class ProductionStepIn(_In):
    fraction: float = Field(gt=0, lt=1)
    priority: int = Field(ge=0, le=MAX_PRIORITY)


class RequestPatch(Reason):
    priority: int | None = Field(None, ge=0, le=MAX_PRIORITY)
    production_steps: list[ProductionStepIn] | None = Field(None, max_length=20)


class ReleaseIn(Reason):
    """``release`` of a held request, optionally with overrides for the next round or rescue."""

    memory_mb: int | None = Field(None, ge=1, le=1_000_000)
    max_retries: int | None = Field(None, ge=0, le=100)
    site_bans: list[str] = Field(default_factory=list, max_length=500)
    excluded_files: list[str] = Field(default_factory=list, max_length=100_000)


class RestartIn(Reason):
    cleanup_policy: CleanupPolicy = CleanupPolicy.keep_until_replaced


class AdmissionPatch(Reason):
    max_active_dags: int = Field(ge=0, le=1_000_000)


class SitePatch(Reason):
    status: SiteStatus | None = None
    total_slots: int | None = Field(None, ge=0, le=10_000_000)


# -- outputs -------------------------------------------------------------------------------------
class AuditRecord(_Out):
    from_status: str | None = Field(alias="from")
    to_status: str = Field(alias="to")
    at: str
    by: str
    reason: str
    count: int | None = Field(None, description="a repeated entry: how many times it happened (since `at`)")
    last_at: str | None = Field(None, description="a repeated entry: when it last happened")


class AlertOut(_Out):
    kind: str
    reason: str
    at: str


class _RequestCore(_Out):
    """What every listing shows of a request."""

    name: str
    status: RequestStatus
    priority: int
    urgent: bool
    request_type: str
    requestor: str
    campaign: str | None


class RequestSummary(_RequestCore):
    created_at: str
    updated_at: str


class WorkflowBrief(_Out):
    id: int
    status: WorkflowStatus
    current_round: int
    next_first_event: int
    events_planned: int
    events_produced: int
    splitting_algo: str | None
    adaptive_params: dict[str, Any]
    current_dag_id: int | None


class RoundOut(_Out):
    round: int
    dag_id: int
    parent_dag_id: int | None
    status: DAGStatus
    work_units: int
    work_units_done: int
    nodes: int
    params: dict[str, Any]
    metrics: dict[str, Any]
    submitted_at: str | None
    completed_at: str | None


class BlockOut(_Out):
    round: int
    dataset: str
    status: BlockStatus
    work_units: int
    work_units_done: int
    catalog_block: str | None


class RequestDetail(RequestSummary):
    input_dataset: str | None
    output_datasets: list[str]
    adaptive: bool
    processing_version: int
    production_steps: list[dict[str, Any]]
    previous_version_request: str | None
    superseded_by_request: str | None
    cleanup_policy: str
    overrides: dict[str, Any]
    spec: dict[str, Any]
    status_transitions: list[AuditRecord]
    alerts: list[AlertOut]
    workflow: WorkflowBrief | None = None
    rounds: list[RoundOut] = Field(default_factory=list)
    blocks: list[BlockOut] = Field(default_factory=list)


class FailResult(_Out):
    name: str
    status: RequestStatus
    produced: dict[str, Any]


class RestartResult(_Out):
    name: str
    new_request: str


class VersionOut(_Out):
    name: str
    processing_version: int
    status: RequestStatus
    cleanup_policy: str
    previous: str | None
    superseded_by: str | None


class SubmitResult(_Out):
    name: str
    created: bool
    status: RequestStatus


class WorkflowSummary(_Out):
    id: int
    request_name: str
    status: WorkflowStatus
    current_round: int
    splitting_algo: str | None
    events_planned: int
    events_produced: int
    current_dag_id: int | None
    created_at: datetime
    updated_at: datetime


class WorkflowDetail(WorkflowSummary):
    input_dataset: str | None
    splitting_params: dict[str, Any]
    adaptive_params: dict[str, Any]
    step_metrics: dict[str, Any]
    category_throttles: dict[str, int]
    node_counters: dict[str, int]
    next_first_event: int


class WorkflowProgress(_Out):
    workflow_id: int
    request_name: str
    status: WorkflowStatus
    progress_percent: float = Field(description="completed work: events for generation, files for input")
    measured_since: datetime | None = Field(description="first DAG submission (start of the throughput window)")
    throughput_per_hour: float | None = Field(description="percent of the work completed per hour, measured")
    eta_seconds: float | None = Field(description="remaining work / measured throughput; None when unknown")
    eta: datetime | None
    current_dag: dict[str, Any] | None
    rounds: list[RoundOut]
    blocks: list[BlockOut]


class DagSummary(_Out):
    id: int
    workflow_id: int
    round: int
    status: DAGStatus
    parent_dag_id: int | None
    rescue_kind: str | None
    cluster_id: int | None
    schedd_name: str | None
    total_nodes: int
    total_work_units: int
    node_counters: dict[str, int]
    created_at: datetime
    submitted_at: datetime | None
    completed_at: datetime | None


class DagEvent(_Out):
    at: datetime
    event: str
    detail: dict[str, Any]


class DagDetail(DagSummary):
    dag_file: str
    submit_dir: str
    rescue_dag: str | None
    stop_requested_at: datetime | None
    stop_reason: str | None
    total_edges: int
    nodes_by_role: dict[str, int]
    completed_work_units: list[str]
    round_params: dict[str, Any]
    round_metrics: dict[str, Any]
    history: list[DagEvent]


class NodeOut(_Out):
    node: str
    role: str
    status: str
    retries: int
    details: str
    exit_code: int | None
    site: str | None
    procs_held: int


class WorkUnitNodes(NodeOut):
    nodes: list[NodeOut] = Field(default_factory=list, description="from the WU's group.dag.status, when present")


class DagNodes(_Out):
    dag_id: int
    status_file: str
    available: bool = Field(description="False until DAGMan has written its node status file")
    dag_status: str | None
    counts: dict[str, int]
    total: int
    limit: int
    offset: int
    work_units: list[WorkUnitNodes]


class DagLogs(_Out):
    dag_id: int
    file: str
    available: bool
    lines: list[str]


class QueueEntry(_Out):
    position: int
    name: str
    priority: int
    urgent: bool
    requestor: str
    queued_at: datetime | None
    waiting_seconds: float


class AdmissionQueue(_Out):
    max_active_dags: int
    active_dags: int
    free_slots: int
    queue_depth: int
    items: list[QueueEntry]
    limit: int
    offset: int


class AdmissionConfig(_Out):
    max_active_dags: int
    source: str = Field(description="'override' (set through the API) or 'settings'")
    updated_by: str | None = None
    reason: str | None = None


class SiteOut(_Out):
    name: str
    tier: int | None
    status: SiteStatus
    total_slots: int | None
    storage_element: str | None
    updated_at: datetime
    updated_by: str | None
    reason: str | None
    active_bans: int = 0


class BanOut(_Out):
    id: int
    site: str
    workflow_id: int | None
    reason: str
    failure_data: dict[str, Any]
    created_at: datetime
    expires_at: datetime | None
    removed_at: datetime | None
    removed_by: str | None
    active: bool


class CycleOut(_Out):
    started_at: datetime
    duration_s: float
    requests_evaluated: int
    errors: int
    error_detail: list[dict[str, Any]]


class LifecycleStatus(_Out):
    cycle_seconds: float
    running_in_process: bool = Field(description="a Lifecycle Manager runs inside this server")
    last_cycle: CycleOut | None
    cycles_recorded: int
    errors_recorded: int
    mean_duration_s: float | None
    max_duration_s: float | None
    recent: list[CycleOut]


class Health(_Out):
    status: str


class ServiceStatus(_Out):
    version: str
    engine: str
    identity: str
    role: str
    requests: dict[str, int]
    workflows: dict[str, int]
    dags: dict[str, int]
    queue_depth: int
    active_dags: int
    max_active_dags: int
    open_alerts: int
    last_cycle_at: datetime | None


# -- dashboard (wms2.web) ------------------------------------------------------------------------
class BanIn(Reason):
    """An operator's site ban: system-wide, or for one request's workflow."""

    site: str = Field(min_length=1, max_length=100, pattern=SITE_PATTERN)
    days: float = Field(7.0, gt=0, le=365, description="the ban expires after this many days")
    request: str | None = Field(None, max_length=200, description="only this request's workflow (else everywhere)")


class LiveDag(_Out):
    dag_id: int
    request: str
    round: int
    status: DAGStatus
    work_units: int
    work_units_done: int
    nodes_failed: int
    nodes_running: int
    submitted_at: str | None


class DashboardAlert(_Out):
    id: int
    request: str | None
    kind: str
    reason: str
    status_at_alert: str | None
    at: str | None
    stuck: bool


class DashboardOverview(_Out):
    counts: dict[str, int]
    total: int
    queue: AdmissionQueue
    live_dags: list[LiveDag]
    alerts: list[DashboardAlert]
    last_cycle: dict[str, Any] | None


class DashboardRequestRow(_RequestCore):
    created_at: str | None
    updated_at: str | None
    alert: dict[str, str] | None = None
    round: int | None = None
    done: int = 0
    total: int = 0
    unit: str | None = Field(None, description="'events' (generation) or 'files' (input-driven work)")
    progress_percent: float = 0.0
    dag_id: int | None = None
    dag_status: str | None = None
    work_units: int = 0
    work_units_done: int = 0
    failure_rate: float | None = Field(None, description="failed / (done + failed) nodes of the current DAG")
    throughput_per_hour: float | None = Field(None, description="percent of the work per hour, measured")
    eta_seconds: float | None = None


class GridUnit(_Out):
    node: str
    status: int = Field(description="DAGMan NodeStatus code (0 not ready ... 5 done, 6 error, 7 futile)")
    retries: int


class DagGrid(_Out):
    dag_id: int
    request: str | None
    round: int
    status: DAGStatus
    current: bool
    total_work_units: int
    completed_work_units: int
    available: bool
    dag_status: str | None
    counts: dict[str, int]
    work_units: list[GridUnit]


class ErrorBucket(_Out):
    at: str
    failures: int


class ErrorTimeline(_Out):
    request: str
    bucket_seconds: int
    buckets: list[ErrorBucket]
