"""``manifest.json`` per work unit (the :class:`~wms2.sandbox.manifest.WorkUnitManifest` schema).

The round-constant part (steps, stage-out, merge and POST knobs) is built and validated once with the
pydantic models; per WU only the jobs are added as plain dicts and dumped with ``json`` (the hot path).
The first WU of every round is validated against the model in full, so schema drift fails planning.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from wms2.config import Settings
from wms2.domain.request import RequestSpec, StepConfig
from wms2.planning.params import RoundParams
from wms2.planning.render import quoting as q
from wms2.planning.types import Job, WorkUnit
from wms2.sandbox.manifest import (
    CmsRunConfig,
    MergeSpec,
    OutputModule,
    PostSpec,
    SimulatorConfig,
    StageOutSpec,
    StepSpec,
    WorkUnitManifest,
)

TRANSIENT_TIER = "TRANSIENT"  # output of a step only read by the next step, never kept


def dataset_lfn_suffix(dataset: str) -> str:
    """The CMS LFN directories of a dataset: ``/Prim/Era-Proc-vN/TIER`` -> ``Era/Prim/TIER/Proc-vN``, so
    every output dataset (and so every request and processing version) has its own merged and
    unmerged directories."""
    _, primary, processed, tier = dataset.split("/")
    era, _, rest = processed.partition("-")
    return f"{era}/{primary}/{tier}/{rest or processed}"


def _outputs(spec: RequestSpec, step: StepConfig) -> list[OutputModule]:
    modules: list[OutputModule] = []
    used: set[str] = set()
    for out in spec.output_datasets:
        if out.step != step.name:
            continue
        module, n = f"{out.tier.replace('-', '')}output", 1
        while module in used:
            n += 1
            module = f"{out.tier.replace('-', '')}output{n}"
        used.add(module)
        suffix = dataset_lfn_suffix(q.dataset(out.name, "output_datasets"))
        merged = q.lfn_base(spec.merged_lfn_base, "merged_lfn_base").rstrip("/")
        unmerged = q.lfn_base(spec.unmerged_lfn_base, "unmerged_lfn_base").rstrip("/")
        modules.append(OutputModule(module=module, tier=out.tier, dataset=out.name,
                                    merged_lfn_base=f"{merged}/{suffix}", unmerged_lfn_base=f"{unmerged}/{suffix}"))
    feeds_next = any(s.input_step == step.name for s in spec.steps) or step.index < len(spec.steps) - 1
    if not modules and feeds_next:
        modules.append(OutputModule(module=f"{step.name}output", tier=TRANSIENT_TIER))
    return modules


def _simulator(spec: RequestSpec, step: StepConfig, outputs: list[OutputModule], settings: Settings) -> SimulatorConfig:
    p, hints = settings.planning, spec.simulator
    size = (hints.size_per_event_kb if hints and hints.size_per_event_kb is not None
            else p.simulator_size_per_event_kb)
    return SimulatorConfig(
        cpu_seconds_per_event=(hints.cpu_seconds_per_event if hints and hints.cpu_seconds_per_event is not None
                               else p.simulator_cpu_seconds_per_event),
        memory_mb=hints.memory_mb if hints and hints.memory_mb is not None else p.simulator_memory_mb,
        peak_memory_mb=hints.peak_memory_mb if hints else None,
        size_per_event_kb={o.tier: size for o in outputs},
        filter_efficiency=spec.splitting.filter_efficiency if step.index == 0 else 1.0,
        seed=zlib.crc32(f"{hints.seed if hints and hints.seed is not None else spec.name}/{step.name}".encode()),
        distortion=hints.distortion if hints else None,
    )


def step_specs(spec: RequestSpec, params: RoundParams, settings: Settings) -> list[StepSpec]:
    simulate = settings.sandbox.stageout_mode in ("local", "test")
    steps = []
    for step in spec.steps:
        outputs = _outputs(spec, step)
        cmsrun = None
        if not simulate:
            if not step.cmssw_version or not step.scram_arch:
                raise ValueError(f"steps.{step.index}: production (cmsRun) steps need CMSSWVersion and ScramArch")
            cmsrun = CmsRunConfig(cmssw_version=step.cmssw_version, scram_arch=step.scram_arch[0],
                                  pset=f"psets/{step.name}.py", global_tag=step.global_tag)
        previous = spec.steps[step.index - 1].name if step.index > 0 else None
        steps.append(StepSpec(
            name=step.name, index=step.index, kind="simulator" if simulate else "cmsrun",
            threads=max(1, min(step.multicore, params.request_cpus)),
            input_step=step.input_step or previous, input_module=step.input_module, outputs=outputs,
            simulator=_simulator(spec, step, outputs, settings) if simulate else None,
            cmsrun=cmsrun, payload=step.payload,
        ))
    return steps


class ManifestWriter:
    def __init__(self, spec: RequestSpec, workflow_id: str, params: RoundParams, settings: Settings) -> None:
        p, f = settings.planning, settings.failures
        base = WorkUnitManifest(
            request_name=spec.name, workflow_id=workflow_id, round=params.round, work_unit="mg_000000",
            steps=step_specs(spec, params, settings), jobs=[],
            stageout=StageOutSpec(mode=settings.sandbox.stageout_mode, lfn_prefix=settings.sandbox.lfn_prefix,
                                  storage_root=str(settings.storage_root)
                                  if settings.sandbox.stageout_mode == "local" else None),
            merge=MergeSpec(max_merge_size=params.max_merge_size, oversized_fraction=p.oversized_fraction),
            post=PostSpec(cooloff_base_s=f.transient_cooloff_base_s, cooloff_max_s=f.transient_cooloff_max_s,
                          memory_bump_factor=f.memory_bump_factor,
                          max_memory_per_core_mb=settings.resources.max_memory_per_core_mb,
                          catastrophic_siblings=f.catastrophic_siblings),
            faults=list(spec.faults),
        )
        doc: dict[str, Any] = base.model_dump(mode="json", exclude_none=True)
        doc.pop("work_unit")
        doc.pop("jobs")
        # Round-constant part encoded once; per WU only the name and the jobs are appended.
        self.prefix = json.dumps(doc, separators=(",", ":"))[:-1] + ',"work_unit":"'
        self.validated = False

    def render(self, wu: WorkUnit) -> str:
        text = f'{self.prefix}{wu.name}","jobs":[{",".join(map(job_json, wu.jobs))}]}}'
        if not self.validated:
            WorkUnitManifest.model_validate_json(text)
            self.validated = True
        return text


def job_json(job: Job) -> str:
    """One job as JSON; generation jobs (only integers and generated names) skip the encoder."""
    if job.inputs or job.run is None or job.first_event is None or len(job.lumis) != 1:
        return json.dumps(job_dict(job), separators=(",", ":"))
    ((run, lumis),) = job.lumis.items()
    return (f'{{"node":"proc_{job.index:06d}","index":{job.index},"events":{job.events},'
            f'"lumis":{{"{run:d}":[{",".join(map(str, lumis))}]}},"first_event":{job.first_event},"run":{run:d}}}')


def _lumis(lumis: dict[int, list[int]]) -> dict[str, list[int]]:
    return {str(run): ls for run, ls in lumis.items()}


def job_dict(job: Job) -> dict[str, Any]:
    d: dict[str, Any] = {"node": job.node, "index": job.index, "events": job.events, "lumis": _lumis(job.lumis)}
    if job.first_event is not None:
        d["first_event"] = job.first_event
    if job.run is not None:
        d["run"] = job.run
    if job.inputs:
        d["input_files"] = [_slice(s) for s in job.inputs]
    return d


def _slice(s: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"lfn": q.lfn(s.lfn, "input_files.lfn"), "events": s.file_events, "first_event": s.first_event}
    if s.max_events is not None:
        d["max_events"] = s.max_events
    if s.lumis is not None:
        d["lumis"] = _lumis(s.lumis)
    return d
