"""SQLAlchemy models for the entities of design §5.

No table of jobs, ever (invariant 1): DAGs, work units and blocks are stored as aggregates.
Enumerations are stored as their string values (``native_enum=False``) so that SQLite and PostgreSQL
share one schema and a new status needs no type migration; a CHECK constraint keeps them honest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wms2.db.base import Base, JsonType, UTCDateTime, utcnow
from wms2.domain.enums import (
    BlockStatus,
    CleanupPolicy,
    DAGStatus,
    InputFileState,
    RequestStatus,
    SiteStatus,
    WorkflowStatus,
)


def _enum(cls: type, name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=32, validate_strings=True,
                values_callable=lambda e: [m.value for m in e])


class RequestRow(Base):
    __tablename__ = "requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    requestor: Mapped[str] = mapped_column(String(200), nullable=False)
    requestor_dn: Mapped[str | None] = mapped_column(String(500))
    group: Mapped[str | None] = mapped_column(String(100))
    request_type: Mapped[str] = mapped_column(String(50), nullable=False)
    document: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False)
    spec: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False)
    input_dataset: Mapped[str | None] = mapped_column(String(500))
    output_datasets: Mapped[list[str]] = mapped_column(JsonType, nullable=False, default=list)
    campaign: Mapped[str | None] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, nullable=False)
    urgent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    production_steps: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, nullable=False, default=list)
    adaptive: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    processing_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    previous_version_request: Mapped[str | None] = mapped_column(String(200))
    superseded_by_request: Mapped[str | None] = mapped_column(String(200))
    cleanup_policy: Mapped[CleanupPolicy] = mapped_column(
        _enum(CleanupPolicy, "cleanup_policy"), nullable=False, default=CleanupPolicy.keep_until_replaced
    )
    overrides: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False, default=dict)
    status: Mapped[RequestStatus] = mapped_column(_enum(RequestStatus, "request_status"), nullable=False)
    status_transitions: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, nullable=False, default=list)
    status_since: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    workflow: Mapped[WorkflowRow | None] = relationship(back_populates="request", uselist=False)

    __table_args__ = (
        Index("ix_requests_status_priority", "status", "priority"),
        Index("ix_requests_admission", "status", "urgent", "priority", "queued_at"),
        Index("ix_requests_campaign", "campaign"),
        Index("ix_requests_requestor", "requestor"),
    )


class WorkflowRow(Base):
    __tablename__ = "workflows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), unique=True)
    request_name: Mapped[str] = mapped_column(String(200), nullable=False)
    input_dataset: Mapped[str | None] = mapped_column(String(500))
    splitting_algo: Mapped[str | None] = mapped_column(String(40))
    splitting_params: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False, default=dict)
    payload_config: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False, default=dict)
    step_metrics: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False, default=dict)
    adaptive_params: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False, default=dict)
    current_round: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_first_event: Mapped[int] = mapped_column(BigInteger, nullable=False, default=1)
    next_lumi: Mapped[int] = mapped_column(BigInteger, nullable=False, default=1)
    events_planned: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    events_produced: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    current_dag_id: Mapped[int | None] = mapped_column(Integer)
    category_throttles: Mapped[dict[str, int]] = mapped_column(JsonType, nullable=False, default=dict)
    node_counters: Mapped[dict[str, int]] = mapped_column(JsonType, nullable=False, default=dict)
    status: Mapped[WorkflowStatus] = mapped_column(_enum(WorkflowStatus, "workflow_status"), nullable=False,
                                                   index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    request: Mapped[RequestRow] = relationship(back_populates="workflow")


class DagRow(Base):
    __tablename__ = "dags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), nullable=False)
    round: Mapped[int] = mapped_column(Integer, nullable=False)
    dag_file: Mapped[str] = mapped_column(Text, nullable=False)
    submit_dir: Mapped[str] = mapped_column(Text, nullable=False)
    rescue_dag: Mapped[str | None] = mapped_column(Text)
    cluster_id: Mapped[int | None] = mapped_column(BigInteger)
    schedd_name: Mapped[str | None] = mapped_column(String(200))
    parent_dag_id: Mapped[int | None] = mapped_column(ForeignKey("dags.id"))
    rescue_kind: Mapped[str | None] = mapped_column(String(20), doc="failure | stop | None")
    stop_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stop_reason: Mapped[str | None] = mapped_column(Text)
    total_nodes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total_edges: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    nodes_by_role: Mapped[dict[str, int]] = mapped_column(JsonType, nullable=False, default=dict)
    node_counters: Mapped[dict[str, int]] = mapped_column(JsonType, nullable=False, default=dict)
    total_work_units: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completed_work_units: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False, default=dict)
    round_params: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False, default=dict)
    round_metrics: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False, default=dict)
    status: Mapped[DAGStatus] = mapped_column(_enum(DAGStatus, "dag_status"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_dags_workflow_round", "workflow_id", "round"), Index("ix_dags_status", "status"))


class DagHistoryRow(Base):
    __tablename__ = "dag_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dag_id: Mapped[int] = mapped_column(ForeignKey("dags.id", ondelete="CASCADE"), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    event: Mapped[str] = mapped_column(String(40), nullable=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False, default=dict)


class ProcessingBlockRow(Base):
    __tablename__ = "processing_blocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), nullable=False)
    dag_id: Mapped[int | None] = mapped_column(ForeignKey("dags.id"))
    round: Mapped[int] = mapped_column(Integer, nullable=False)
    block_index: Mapped[int] = mapped_column(Integer, nullable=False)
    dataset: Mapped[str] = mapped_column(String(500), nullable=False)
    total_work_units: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completed_work_units: Mapped[list[str]] = mapped_column(JsonType, nullable=False, default=list)
    catalog_block_name: Mapped[str | None] = mapped_column(String(600))
    is_open: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    source_rule_ids: Mapped[dict[str, str]] = mapped_column(JsonType, nullable=False, default=dict)
    archival_rule_id: Mapped[str | None] = mapped_column(String(100))
    consolidation_rule_id: Mapped[str | None] = mapped_column(String(100))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempt_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    status: Mapped[BlockStatus] = mapped_column(_enum(BlockStatus, "block_status"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("workflow_id", "round", "dataset", name="uq_block_round_dataset"),)


class SiteRow(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    tier: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[SiteStatus] = mapped_column(_enum(SiteStatus, "site_status"), nullable=False)
    total_slots: Mapped[int | None] = mapped_column(Integer)
    storage_element: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)


class SiteBanRow(Base):
    __tablename__ = "site_bans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    workflow_id: Mapped[int | None] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    failure_data: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_by: Mapped[str | None] = mapped_column(String(200))


class InputFileRow(Base):
    __tablename__ = "input_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), nullable=False)
    lfn: Mapped[str] = mapped_column(String(800), nullable=False)
    events: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    lumis: Mapped[dict[str, list[int]]] = mapped_column(JsonType, nullable=False, default=dict)
    locations: Mapped[list[str]] = mapped_column(JsonType, nullable=False, default=list)
    state: Mapped[InputFileState] = mapped_column(_enum(InputFileState, "input_file_state"), nullable=False)
    round: Mapped[int | None] = mapped_column(Integer)
    failures: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False, default=dict)

    __table_args__ = (
        UniqueConstraint("workflow_id", "lfn", name="uq_input_file"),
        Index("ix_input_files_workflow_state", "workflow_id", "state"),
    )


class AlertRow(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_name: Mapped[str | None] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(60), nullable=False)
    status_at_alert: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))


class LifecycleCycleRow(Base):
    """One row per lifecycle cycle (bounded; older rows pruned): for `GET /lifecycle/status`."""

    __tablename__ = "lifecycle_cycles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    duration_s: Mapped[float] = mapped_column(Float, nullable=False)
    requests_evaluated: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    errors: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error_detail: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, nullable=False, default=list)


class LocalRuleRow(Base):
    """The embedded replica-rule service (the local stand-in for Rucio rules): source protection per WU,
    archival per block, optional consolidation."""

    __tablename__ = "local_rules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    did: Mapped[str] = mapped_column(String(800), nullable=False)
    rse_expression: Mapped[str] = mapped_column(String(200), nullable=False)
    copies: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="OK")
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("did", "rse_expression", "kind", name="uq_local_rule"),)


class WorkUnitRecordRow(Base):
    """What one completed work unit produced (merged files, processed inputs, metrics summary): an
    aggregate per WU, written once when the DAG Monitor sees the WU done (never per job).

    Kept out of ``dags.completed_work_units`` (which holds only names and sites) so that polling a DAG
    never decodes hundreds of WUs' file lists; rescues of a round share the round's records."""

    __tablename__ = "work_unit_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), nullable=False)
    round: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(40), nullable=False)
    site: Mapped[str | None] = mapped_column(String(100))
    registered: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    record: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (
        UniqueConstraint("workflow_id", "round", "name", name="uq_work_unit_record"),
        Index("ix_work_unit_records_pending", "workflow_id", "round", "registered"),
    )
