"""The work-unit manifest: the contract between the DAG planner and the worker-node code.

The planner writes one ``manifest.json`` per work unit (``mg_NNNNNN/manifest.json``); the wrapper,
merge, cleanup and POST scripts read it.  Changes must be additive (new optional fields) so that a
manifest written by an older planner is still readable.  The models are msgspec Structs
(:mod:`wms2.sandbox.contract`): unknown fields are refused and errors name the field's path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from msgspec import Meta, field

from wms2.sandbox.contract import StrictContract

MANIFEST_SCHEMA_VERSION = 1

NonNegInt = Annotated[int, Meta(ge=0)]
NonNegFloat = Annotated[float, Meta(ge=0)]
Fraction = Annotated[float, Meta(ge=0, le=1)]
#: In (0, 1]: efficiencies and fractions that may not be zero.
PositiveFraction = Annotated[float, Meta(gt=0, le=1)]


class DistortionSpec(StrictContract, kw_only=True):
    """Deliberate change of one simulator output branch (physics-validation tests): ``v * scale + shift``,
    then ``drop_fraction`` of the entries replaced by a missing value (NaN, or -1 for integer branches);
    ``remove`` leaves the branch out of the file altogether."""

    branch: Annotated[str, Meta(min_length=1, max_length=100)]
    shift: float = 0.0
    scale: float = 1.0
    drop_fraction: Fraction = 0.0
    remove: bool = False


class SimulatorConfig(StrictContract, kw_only=True):
    """Per-step configuration of the CMSSW-like simulator payload (local and test mode)."""

    cpu_seconds_per_event: NonNegFloat = 0.01
    memory_mb: NonNegFloat = 200.0  # steady resident memory held by the step
    peak_memory_mb: NonNegFloat | None = None  # optional transient peak
    peak_at_fraction: Fraction = 0.5  # when the transient peak happens
    size_per_event_kb: dict[str, float] = field(default_factory=dict)  # output tier -> kB per output event
    filter_efficiency: PositiveFraction = 1.0
    seed: int = 0
    cpu_efficiency: PositiveFraction = 1.0  # CPU / (wall * threads) the step reaches (serial fraction, I/O)
    physics: bool = True  # write the physics-like branches (wms2.sandbox.physics)
    distortion: DistortionSpec | None = None  # change one output branch (validation tests)


class CmsRunConfig(StrictContract, kw_only=True):
    """What a real cmsRun step needs; the wrapper builds the command line from it."""

    cmssw_version: str
    scram_arch: str
    pset: str  # PSet file name, relative to the sandbox or absolute
    global_tag: str | None = None
    arguments: list[str] = field(default_factory=list)
    apptainer_image: str | None = None


class OutputModule(StrictContract, kw_only=True):
    module: str
    tier: str
    dataset: str | None = None  # output dataset when kept; None = transient
    merged_lfn_base: str | None = None
    unmerged_lfn_base: str | None = None


class StepSpec(StrictContract, kw_only=True):
    name: str
    index: NonNegInt
    kind: Literal["simulator", "cmsrun"]
    threads: Annotated[int, Meta(ge=1)] = 1
    input_step: str | None = None  # previous step whose output this step reads
    input_module: str | None = None
    outputs: list[OutputModule] = field(default_factory=list)
    simulator: SimulatorConfig | None = None
    cmsrun: CmsRunConfig | None = None
    payload: dict[str, Any] = field(default_factory=dict)  # opaque step config from the request


class InputFileSlice(StrictContract, kw_only=True):
    lfn: str
    pfn: str | None = None
    events: NonNegInt = 0  # events of the whole file
    first_event: NonNegInt = 0  # 0-based first event to read in this file
    max_events: NonNegInt | None = None  # None = to the end of the file
    lumis: dict[str, list[int]] = field(default_factory=dict)  # run -> lumi numbers to read


class JobSpec(StrictContract, kw_only=True):
    """One processing node of the work unit."""

    node: str  # DAG node name, e.g. proc_000003
    index: NonNegInt
    first_event: Annotated[int, Meta(ge=1)] | None = None  # generation: first event number (1-based)
    events: NonNegInt = 0  # events to process (generated events for generation)
    run: int | None = None  # generation: run number
    lumis: dict[str, list[int]] = field(default_factory=dict)  # run -> lumi numbers
    input_files: list[InputFileSlice] = field(default_factory=list)


class StageOutSpec(StrictContract, kw_only=True):
    mode: Literal["local", "test", "production"] = "local"
    storage_root: str | None = None  # local mode: filesystem root for LFN /store/...
    lfn_prefix: str = "/store"
    site_config: str | None = None  # test/production: site storage description file


class MergeSpec(StrictContract, kw_only=True):
    max_merge_size: Annotated[int, Meta(gt=0)] = 4 * 1024**3
    oversized_fraction: PositiveFraction = 0.75


class PostSpec(StrictContract, kw_only=True):
    """Knobs for the POST script (design §6.5)."""

    cooloff_base_s: NonNegFloat = 60.0
    cooloff_max_s: NonNegFloat = 600.0
    memory_bump_factor: Annotated[float, Meta(gt=1.0)] = 1.5
    max_memory_per_core_mb: Annotated[int, Meta(gt=0)] = 3000
    catastrophic_siblings: Annotated[int, Meta(ge=1)] = 3


class FaultSpec(StrictContract, kw_only=True):
    """Fault injection for tests and demos (simulator only).  All optional."""

    nodes: list[str] | None = None  # node names affected; None = every processing node
    exit_code: int | None = None
    signal: int | None = None
    crash_after_events: NonNegInt | None = None
    no_output: bool = False
    memory_blowup_mb: float | None = None
    slow_factor: Annotated[float, Meta(gt=0)] | None = None
    only_at_site: str | None = None
    fail_attempts: Annotated[int, Meta(ge=1)] | None = None  # fail only the first N attempts; None = every
    bad_input_lfn: str | None = None  # data fault: reading this LFN fails (exit 8021)
    step: str | None = None  # step that fails; None = first step
    work_units: list[str] | None = None  # work units affected; None = every work unit
    rounds: list[int] | None = None  # rounds affected; None = every round


class WorkUnitManifest(StrictContract, kw_only=True):
    schema_version: int = MANIFEST_SCHEMA_VERSION
    request_name: str
    workflow_id: str
    round: NonNegInt
    work_unit: str  # e.g. mg_000003
    block_index: NonNegInt = 0
    steps: list[StepSpec]
    jobs: list[JobSpec]
    stageout: StageOutSpec = field(default_factory=StageOutSpec)
    merge: MergeSpec = field(default_factory=MergeSpec)
    post: PostSpec = field(default_factory=PostSpec)
    faults: list[FaultSpec] = field(default_factory=list)

    def job(self, node: str) -> JobSpec:
        for job in self.jobs:
            if job.node == node:
                return job
        raise KeyError(f"node {node!r} is not a processing job of work unit {self.work_unit}")

    @classmethod
    def load(cls, path: str | Path) -> WorkUnitManifest:
        return cls.model_validate_json(Path(path).read_text())

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=1, exclude_none=True))
