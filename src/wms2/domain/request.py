"""The WMS2 request: what a ReqMgr2 document means to WMS2, validated.

Steps are opaque payload configuration (invariant 3): WMS2 keeps what it needs to split, size, name
outputs and place work, and carries the rest untouched in ``StepConfig.payload``.
"""

from __future__ import annotations

import itertools
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from wms2.domain.enums import CleanupPolicy, SplittingAlgo
from wms2.domain.safety import (
    AcquisitionEra,
    CmsswVersion,
    DatasetName,
    DataTier,
    LfnBase,
    ProcessingString,
    RequestName,
    SafeText,
    ScramArch,
    SiteName,
    StepName,
    check_lfn,
    check_name,
    check_site,
)
from wms2.domain.sandbox_fields import pydantic_field
from wms2.sandbox.manifest import DistortionSpec, FaultSpec

DistortionField = pydantic_field(DistortionSpec)
FaultField = pydantic_field(FaultSpec)

MAX_PRIORITY = 999_999
MAX_EVENTS = 10**11  # absurd-size guard: 100 billion events
MAX_STEPS = 20
# Event numbers live in BigInteger columns (signed 64 bits: workflows.next_first_event); CMSSW's own
# EventNumber_t is unsigned 64 bits, so the column is the tighter bound.
MAX_EVENT_NUMBER = 2**63 - 1
# CMSSW's LuminosityBlockNumber_t is an unsigned 32-bit integer.
MAX_LUMI_NUMBER = 2**32 - 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class ProductionStep(_Model):
    fraction: float = Field(gt=0, lt=1)
    priority: int = Field(ge=0, le=MAX_PRIORITY)


class SplittingSpec(_Model):
    """``algo`` is None for generation from scratch (no input dataset)."""

    algo: SplittingAlgo | None
    events_per_job: int | None = Field(None, ge=1, le=10**9)
    lumis_per_job: int = Field(8, ge=1, le=10**6)
    files_per_job: int = Field(1, ge=1, le=10**6)
    events_per_lumi: int | None = Field(None, ge=1, le=10**9)
    request_num_events: int | None = Field(None, ge=1, le=MAX_EVENTS)
    filter_efficiency: float = Field(1.0, gt=0, le=1)
    first_event: int = Field(1, ge=1, le=MAX_EVENT_NUMBER)
    first_lumi: int = Field(1, ge=1, le=MAX_LUMI_NUMBER)
    group_by_location: bool = False
    mix_runs: bool = False

    @model_validator(mode="after")
    def _generation_needs_events(self) -> SplittingSpec:
        if self.algo is None and self.request_num_events is None:
            raise ValueError("generation from scratch needs RequestNumEvents")
        return self


class ResourceHints(_Model):
    memory_mb: float = Field(gt=0, le=1_000_000)
    multicore: int = Field(ge=1, le=256)
    event_streams: int = Field(0, ge=0, le=256)
    time_per_event_s: float = Field(gt=0, le=86400 * 7)
    size_per_event_kb: float = Field(gt=0, le=10**7)


class SimulatorHints(_Model):
    """WMS2 extension (``WMS2Simulator``): how the local simulator payload behaves for this request."""

    cpu_seconds_per_event: float | None = Field(None, ge=0, le=3600)
    memory_mb: float | None = Field(None, ge=0, le=64_000)
    peak_memory_mb: float | None = Field(None, ge=0, le=64_000)
    size_per_event_kb: float | None = Field(None, ge=0, le=10**6)
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="same seed -> bit-identical outputs")
    distortion: DistortionField | None = Field(None, description="change one output branch (validation tests)")


class OutputDataset(_Model):
    name: DatasetName
    step: StepName
    tier: DataTier


class StepConfig(_Model):
    name: StepName
    index: int = Field(ge=0)
    cmssw_version: CmsswVersion | None = None
    scram_arch: list[ScramArch] = Field(default_factory=list)
    global_tag: SafeText | None = None
    config_cache_id: SafeText | None = None
    multicore: int = Field(1, ge=1, le=256)
    memory_mb: float | None = Field(None, gt=0, le=1_000_000)
    event_streams: int = Field(0, ge=0, le=256)
    input_step: StepName | None = None
    input_module: SafeText | None = None
    keep_output: bool = True
    mc_pileup: DatasetName | None = None
    data_pileup: DatasetName | None = None
    primary_dataset: SafeText | None = None
    acquisition_era: AcquisitionEra | None = None
    processing_string: ProcessingString | None = None
    output_tiers: list[DataTier] = Field(default_factory=list)
    payload: dict[str, Any] = Field(default_factory=dict)


class RequestSpec(_Model):
    """Everything WMS2 needs from a request, validated."""

    name: RequestName
    request_type: SafeText
    requestor: SafeText = "unknown"
    requestor_dn: SafeText | None = None
    group: SafeText | None = None
    campaign: SafeText | None = None
    prep_id: SafeText | None = None
    priority: int = Field(ge=0, le=MAX_PRIORITY)
    urgent: bool = False
    production_steps: list[ProductionStep] = Field(default_factory=list)
    adaptive: bool = True
    processing_version: int = Field(ge=1, le=10**6)
    cleanup_policy: CleanupPolicy = CleanupPolicy.keep_until_replaced
    input_dataset: DatasetName | None = None
    run_whitelist: list[int] = Field(default_factory=list)
    run_blacklist: list[int] = Field(default_factory=list)
    block_whitelist: list[SafeText] = Field(default_factory=list)
    block_blacklist: list[SafeText] = Field(default_factory=list)
    lumi_mask: dict[int, list[tuple[int, int]]] = Field(default_factory=dict)
    splitting: SplittingSpec
    resources: ResourceHints
    site_whitelist: list[SiteName] = Field(default_factory=list)
    site_blacklist: list[SiteName] = Field(default_factory=list)
    custodial_sites: list[SafeText] = Field(default_factory=list)
    non_custodial_sites: list[SafeText] = Field(default_factory=list)
    merged_lfn_base: LfnBase = "/store/mc"
    unmerged_lfn_base: LfnBase = "/store/unmerged"
    max_merge_size: int | None = Field(None, gt=0, le=10**13)
    steps: list[StepConfig] = Field(min_length=1, max_length=MAX_STEPS)
    output_datasets: list[OutputDataset] = Field(default_factory=list)
    simulator: SimulatorHints | None = None
    faults: list[FaultField] = Field(default_factory=list, description="WMS2Faults: simulator fault injection")

    @property
    def is_generation(self) -> bool:
        return self.input_dataset is None

    @field_validator("lumi_mask")
    @classmethod
    def _check_mask(cls, mask: dict[int, list[tuple[int, int]]]) -> dict[int, list[tuple[int, int]]]:
        for run, ranges in mask.items():
            if run < 1:
                raise ValueError(f"run {run} must be positive")
            for first, last in ranges:
                if first < 1 or last < first:
                    raise ValueError(f"run {run}: lumi range [{first}, {last}] is not a valid range")
        return mask

    @field_validator("production_steps")
    @classmethod
    def _check_production_steps(cls, steps: list[ProductionStep], info: ValidationInfo) -> list[ProductionStep]:
        for prev, nxt in itertools.pairwise(steps):
            if nxt.fraction <= prev.fraction:
                raise ValueError("fractions must strictly increase")
            if nxt.priority >= prev.priority:
                raise ValueError("priorities must strictly decrease")
        if steps and info.data.get("urgent"):
            raise ValueError("cannot be used with urgent")
        priority = info.data.get("priority")
        if steps and isinstance(priority, int) and steps[0].priority >= priority:
            raise ValueError(f"the first step's priority must be below the request priority {priority}")
        return steps

    @field_validator("faults")
    @classmethod
    def _check_faults(cls, faults: list[FaultSpec]) -> list[FaultSpec]:
        """``WMS2Faults`` values reach the work-unit manifest: the same rules as every other name."""
        for i, fault in enumerate(faults):
            try:
                if fault.bad_input_lfn is not None:
                    check_lfn(fault.bad_input_lfn)
                if fault.only_at_site is not None:
                    check_site(fault.only_at_site)
                for value in [*(fault.nodes or []), *(fault.work_units or []), *([fault.step] if fault.step else [])]:
                    check_name(value)
            except ValueError as exc:
                raise ValueError(f"fault {i}: {exc}") from None
        return faults

    @model_validator(mode="after")
    def _check_consistency(self) -> RequestSpec:
        if self.is_generation != (self.splitting.algo is None):
            raise ValueError("splitting: generation (no InputDataset) and an input SplittingAlgo disagree")
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError("steps: step names must be unique")
        return self
