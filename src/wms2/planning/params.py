"""Typed inputs and outputs of :func:`wms2.planning.round.plan_round`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from wms2.config import PlanningSettings, ResourceSettings
from wms2.domain.request import RequestSpec
from wms2.planning.metrics import MeasuredMetrics
from wms2.planning.types import BlockPlan, InputFile, Job, WorkUnit


@dataclass(frozen=True)
class WorkflowState:
    """The workflow's offsets and knobs at planning time."""

    workflow_id: str
    round: int = 0
    next_first_event: int = 1
    next_lumi: int = 1
    category_throttles: dict[str, int] = field(default_factory=dict)
    # Output events registered by completed rounds.  When given, generation plans what is still missing
    # (events of failed WUs are generated again, with new event numbers); when None, everything past
    # ``next_first_event`` is taken as done.
    events_produced: int | None = None


@dataclass(frozen=True)
class Overrides:
    """Operator overrides (``release`` with overrides)."""

    memory_mb: int | None = None
    excluded_lfns: frozenset[str] = frozenset()
    events_per_job: int | None = None


@dataclass(frozen=True)
class PlanInputs:
    spec: RequestSpec
    workflow: WorkflowState
    planning: PlanningSettings
    resources: ResourceSettings
    files: tuple[InputFile, ...] = ()  # every input file of the workflow with its state
    metrics: MeasuredMetrics | None = None
    previous: dict[str, Any] = field(default_factory=dict)  # adaptive_params of the last round
    overrides: Overrides = field(default_factory=Overrides)
    site_bans: tuple[str, ...] = ()  # sites banned for this workflow or system-wide


@dataclass(frozen=True)
class RoleResources:
    cpus: int
    memory_mb: int
    disk_kb: int
    wall_time_s: int  # estimate; the periodic_remove guard multiplies it


@dataclass(frozen=True)
class RoundParams:
    """The round's sizing decisions (stored as the DAG's ``round_params`` / ``adaptive_params``)."""

    round: int
    adaptive: bool
    source: str  # "request" (hints) or "measured"
    effective_fraction: float
    base_events_per_job: int | None  # before the fraction and the core split
    events_per_job: int | None  # what the jobs of this round get
    lumis_per_job: int
    files_per_job: int
    jobs_per_group: int
    request_cpus: int
    request_memory_mb: int
    request_disk_kb: int
    wall_time_estimate_s: int
    split_factor: int = 1
    historical_peak_rss_mb: float = 0.0
    max_merge_size: int = 0
    oversized_tiers: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["oversized_tiers"] = list(self.oversized_tiers)
        return d


@dataclass
class RoundPlan:
    round: int
    params: RoundParams
    jobs: list[Job]
    work_units: list[WorkUnit]
    blocks: list[BlockPlan]
    resources: dict[str, RoleResources]
    allowed_sites: tuple[str, ...]  # whitelist (empty = anywhere)
    denied_sites: tuple[str, ...]  # blacklist + bans
    events: int = 0
    first_event: int | None = None  # generation: first/last generated event of the round
    last_event: int | None = None
    next_first_event: int | None = None
    next_lumi: int | None = None
    lumis: int = 0
    files: list[str] = field(default_factory=list)  # input LFNs the round assigns
    excluded_files: list[str] = field(default_factory=list)  # LFNs that can never be placed
    work_remaining: bool = False

    @property
    def nodes_by_role(self) -> dict[str, int]:
        wus = len(self.work_units)
        return {"Landing": wus, "Processing": len(self.jobs), "Merge": wus, "Cleanup": wus}

    @property
    def total_nodes(self) -> int:
        return len(self.jobs) + 3 * len(self.work_units)

    @property
    def total_edges(self) -> int:
        """Inside each group: landing->proc, proc->merge, merge->cleanup."""
        return 2 * len(self.jobs) + len(self.work_units)

    def summary(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "jobs": len(self.jobs),
            "work_units": len(self.work_units),
            "blocks": [{"index": b.index, "dataset": b.dataset, "work_units": len(b.work_units)}
                       for b in self.blocks],
            "nodes": self.total_nodes,
            "edges": self.total_edges,
            "nodes_by_role": self.nodes_by_role,
            "resources": {role: asdict(r) for role, r in self.resources.items()},
            "round_params": self.params.as_dict(),
            "events": self.events,
            "first_event": self.first_event,
            "last_event": self.last_event,
            "lumis": self.lumis,
            "files": len(self.files),
            "excluded_files": len(self.excluded_files),
            "allowed_sites": list(self.allowed_sites),
            "denied_sites": list(self.denied_sites),
            "work_remaining": self.work_remaining,
        }
