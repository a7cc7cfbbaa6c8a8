"""The work-unit manifest: the contract between the DAG planner and the worker-node code.

The planner writes one ``manifest.json`` per work unit (``mg_NNNNNN/manifest.json``); the wrapper,
merge, cleanup and POST scripts read it.  Changes must be additive (new optional fields) so that a
manifest written by an older planner is still readable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DistortionSpec(_Strict):
    """Deliberate change of one simulator output branch (physics-validation tests): ``v * scale + shift``,
    then ``drop_fraction`` of the entries replaced by a missing value (NaN, or -1 for integer branches);
    ``remove`` leaves the branch out of the file altogether."""

    branch: str = Field(min_length=1, max_length=100)
    shift: float = 0.0
    scale: float = 1.0
    drop_fraction: float = Field(0.0, ge=0, le=1)
    remove: bool = False


class SimulatorConfig(_Strict):
    """Per-step configuration of the CMSSW-like simulator payload (local and test mode)."""

    cpu_seconds_per_event: float = Field(0.01, ge=0)
    memory_mb: float = Field(200.0, ge=0, description="steady resident memory held by the step")
    peak_memory_mb: float | None = Field(None, ge=0, description="optional transient peak")
    peak_at_fraction: float = Field(0.5, ge=0, le=1, description="when the transient peak happens")
    size_per_event_kb: dict[str, float] = Field(
        default_factory=dict, description="output tier -> kB written per output event"
    )
    filter_efficiency: float = Field(1.0, gt=0, le=1)
    seed: int = 0
    cpu_efficiency: float = Field(
        1.0, gt=0, le=1, description="CPU / (wall * threads) the step reaches (serial fraction, I/O waits)"
    )
    physics: bool = Field(True, description="write the physics-like branches (wms2.sandbox.physics)")
    distortion: DistortionSpec | None = Field(None, description="change one output branch (validation tests)")


class CmsRunConfig(_Strict):
    """What a real cmsRun step needs; the wrapper builds the command line from it."""

    cmssw_version: str
    scram_arch: str
    pset: str = Field(description="PSet file name, relative to the sandbox or absolute")
    global_tag: str | None = None
    arguments: list[str] = Field(default_factory=list)
    apptainer_image: str | None = None


class OutputModule(_Strict):
    module: str
    tier: str
    dataset: str | None = Field(None, description="output dataset when kept; None = transient")
    merged_lfn_base: str | None = None
    unmerged_lfn_base: str | None = None


class StepSpec(_Strict):
    name: str
    index: int = Field(ge=0)
    kind: Literal["simulator", "cmsrun"]
    threads: int = Field(1, ge=1)
    input_step: str | None = Field(None, description="previous step whose output this step reads")
    input_module: str | None = None
    outputs: list[OutputModule] = Field(default_factory=list)
    simulator: SimulatorConfig | None = None
    cmsrun: CmsRunConfig | None = None
    payload: dict[str, Any] = Field(default_factory=dict, description="opaque step config from the request")


class InputFileSlice(_Strict):
    lfn: str
    pfn: str | None = None
    events: int = Field(0, ge=0, description="events of the whole file")
    first_event: int = Field(0, ge=0, description="0-based first event to read in this file")
    max_events: int | None = Field(None, ge=0, description="None = to the end of the file")
    lumis: dict[str, list[int]] = Field(default_factory=dict, description="run -> lumi numbers to read")


class JobSpec(_Strict):
    """One processing node of the work unit."""

    node: str = Field(description="DAG node name, e.g. proc_000003")
    index: int = Field(ge=0)
    first_event: int | None = Field(None, ge=1, description="generation: first event number (1-based)")
    events: int = Field(0, ge=0, description="events to process (generated events for generation)")
    run: int | None = Field(None, description="generation: run number")
    lumis: dict[str, list[int]] = Field(default_factory=dict, description="run -> lumi numbers")
    input_files: list[InputFileSlice] = Field(default_factory=list)


class StageOutSpec(_Strict):
    mode: Literal["local", "test", "production"] = "local"
    storage_root: str | None = Field(None, description="local mode: filesystem root for LFN /store/...")
    lfn_prefix: str = "/store"
    site_config: str | None = Field(None, description="test/production: site storage description file")


class MergeSpec(_Strict):
    max_merge_size: int = Field(4 * 1024**3, gt=0)
    oversized_fraction: float = Field(0.75, gt=0, le=1)


class PostSpec(_Strict):
    """Knobs for the POST script (design §6.5)."""

    cooloff_base_s: float = Field(60.0, ge=0)
    cooloff_max_s: float = Field(600.0, ge=0)
    memory_bump_factor: float = Field(1.5, gt=1.0)
    max_memory_per_core_mb: int = Field(3000, gt=0)
    catastrophic_siblings: int = Field(3, ge=1)


class FaultSpec(_Strict):
    """Fault injection for tests and demos (simulator only).  All optional."""

    nodes: list[str] | None = Field(None, description="node names affected; None = every processing node")
    exit_code: int | None = None
    signal: int | None = None
    crash_after_events: int | None = Field(None, ge=0)
    no_output: bool = False
    memory_blowup_mb: float | None = None
    slow_factor: float | None = Field(None, gt=0)
    only_at_site: str | None = None
    fail_attempts: int | None = Field(
        None, ge=1, description="fail only the first N attempts (transient); None = every attempt"
    )
    bad_input_lfn: str | None = Field(None, description="data fault: reading this LFN fails (exit 8021)")
    step: str | None = Field(None, description="step that fails; None = first step")
    work_units: list[str] | None = Field(None, description="work units affected; None = every work unit")
    rounds: list[int] | None = Field(None, description="rounds affected; None = every round")


class WorkUnitManifest(_Strict):
    schema_version: int = MANIFEST_SCHEMA_VERSION
    request_name: str
    workflow_id: str
    round: int = Field(ge=0)
    work_unit: str = Field(description="e.g. mg_000003")
    block_index: int = Field(0, ge=0)
    steps: list[StepSpec]
    jobs: list[JobSpec]
    stageout: StageOutSpec = Field(default_factory=StageOutSpec)
    merge: MergeSpec = Field(default_factory=MergeSpec)
    post: PostSpec = Field(default_factory=PostSpec)
    faults: list[FaultSpec] = Field(default_factory=list)

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
