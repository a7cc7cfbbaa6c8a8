"""The job wrapper (``wms2-job run --manifest M --node N``).

Runs the node's steps in order, each in its own directory under ``<node>.work/``; collects every
step's FJR (copied next to the report as ``<node>.<step>.fjr.xml``); stages the kept outputs to the
unmerged area; writes ``<node>.report.json`` (per-step metrics, staged files, the error) and exits
with the CMS exit code of the first failing step (as a 0-255 process status; the full code is in the
report and the FJR).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from wms2.sandbox import ads
from wms2.sandbox.classify import DATA_CODES
from wms2.sandbox.exitcodes import UNCAUGHT_EXCEPTION, process_exit_status
from wms2.sandbox.fjr import FjrReport
from wms2.sandbox.lfns import unmerged_lfn
from wms2.sandbox.manifest import FaultSpec, JobSpec, StepSpec, WorkUnitManifest
from wms2.sandbox.report import JobReport, StagedOutput, StepMetrics, StepResult
from wms2.sandbox.stageout import StageOut, StageOutError
from wms2.sandbox.steps import StepInput, StepOutcome, chained_inputs, first_step_inputs, run_step


def active_fault(
    manifest: WorkUnitManifest, job: JobSpec, step: StepSpec, *, site: str | None, attempt: int
) -> FaultSpec | None:
    """The first fault of the manifest that applies to this node, step, site and attempt."""
    first_step = manifest.steps[0].name if manifest.steps else None
    lfns = {f.lfn for f in job.input_files}
    for fault in manifest.faults:
        if fault.nodes is not None and job.node not in fault.nodes:
            continue
        if fault.work_units is not None and manifest.work_unit not in fault.work_units:
            continue
        if fault.rounds is not None and manifest.round not in fault.rounds:
            continue
        if (fault.step or first_step) != step.name:
            continue
        if fault.only_at_site is not None and fault.only_at_site != site:
            continue
        if fault.fail_attempts is not None and attempt >= fault.fail_attempts:
            continue
        if fault.bad_input_lfn is not None and fault.bad_input_lfn not in lfns:
            continue
        return fault
    return None


def step_metrics(step: StepSpec, outcome: StepOutcome, workdir: Path) -> StepMetrics:
    fjr = outcome.fjr or FjrReport()
    wall = fjr.wall_s if fjr.wall_s is not None else outcome.wall_s
    cpu = fjr.cpu_s if fjr.cpu_s is not None else outcome.cpu_s
    threads = fjr.threads or step.threads
    tiers = {o.module: o.tier for o in step.outputs}
    written: dict[str, int] = {}
    for f in fjr.output_files:
        path = workdir / f.pfn
        tier = tiers.get(f.module_label, f.module_label)
        if path.is_file():
            written[tier] = written.get(tier, 0) + path.stat().st_size
    return StepMetrics(
        wall_s=wall,
        cpu_s=cpu,
        cpu_efficiency=cpu / (wall * threads) if wall > 0 else 0.0,
        peak_rss_mb=fjr.peak_rss_mb or 0.0,
        events_read=fjr.events_read,
        events_written=fjr.events_written,
        threads=threads,
        bytes_written=written,
    )


class Wrapper:
    def __init__(self, manifest: WorkUnitManifest, node: str, outdir: Path, workdir: Path):
        self.manifest = manifest
        self.job = manifest.job(node)
        self.outdir = outdir
        self.workdir = workdir
        self.site = ads.machine_site()
        attempt = ads.job_number(ads.ATTEMPT_ATTR)
        self.attempt = int(attempt) if attempt is not None else 0
        self.memory_limit = ads.job_number("RequestMemory")
        self.stageout = StageOut(manifest.stageout, self.site)
        self.report = JobReport(node=node, work_unit=manifest.work_unit, attempt=self.attempt, site=self.site)

    def _pfns(self) -> dict[str, str]:
        pfns = {}
        for f in self.job.input_files:
            if self.manifest.stageout.mode == "local" and f.lfn.startswith(self.manifest.stageout.lfn_prefix):
                pfns[f.lfn] = self.stageout.pfn(f.lfn)
        return pfns

    def _fail(self, step: StepSpec, code: int, message: str, fjr: FjrReport | None) -> None:
        self.report.exit_code = code
        self.report.failed_step = step.name
        self.report.error_message = message
        if code in DATA_CODES and fjr is not None:
            self.report.bad_input_files = fjr.bad_input_lfns()

    def run_steps(self) -> list[tuple[StepSpec, StepOutcome, Path]]:
        done: dict[str, tuple[FjrReport, Path]] = {}
        results: list[tuple[StepSpec, StepOutcome, Path]] = []
        for step in sorted(self.manifest.steps, key=lambda s: s.index):
            stepdir = self.workdir / step.name
            if step.input_step:
                prev_fjr, prev_dir = done[step.input_step]
                inputs: list[StepInput] = chained_inputs(step, prev_fjr, prev_dir)
            else:
                inputs = first_step_inputs(self.job, self._pfns())
            fault = active_fault(self.manifest, self.job, step, site=self.site, attempt=self.attempt)
            outcome = run_step(step, self.job, inputs, stepdir, fault=fault, memory_limit_mb=self.memory_limit)
            fjr_copy = None
            if outcome.fjr_path is not None:
                fjr_copy = f"{self.job.node}.{step.name}.fjr.xml"
                shutil.copyfile(outcome.fjr_path, self.outdir / fjr_copy)
            self.report.steps.append(
                StepResult(
                    name=step.name,
                    index=step.index,
                    kind=step.kind,
                    exit_code=outcome.exit_code,
                    status="success" if outcome.exit_code == 0 else "failed",
                    fjr=fjr_copy,
                    error_type=outcome.error_type,
                    error_message=outcome.error_message[-2000:],
                    metrics=step_metrics(step, outcome, stepdir),
                    input_lfns=[i.lfn for i in inputs],
                )
            )
            results.append((step, outcome, stepdir))
            if outcome.exit_code != 0:
                self._fail(step, outcome.exit_code, outcome.error_message, outcome.fjr)
                return results
            assert outcome.fjr is not None
            done[step.name] = (outcome.fjr, stepdir)
        return results

    def stage_out(self, results: list[tuple[StepSpec, StepOutcome, Path]]) -> None:
        for step, outcome, stepdir in results:
            assert outcome.fjr is not None
            modules = {o.module: o for o in step.outputs if o.dataset}
            for f in outcome.fjr.output_files:
                out = modules.get(f.module_label)
                if out is None or out.dataset is None:
                    continue
                lfn = unmerged_lfn(self.manifest, self.job, step, out)
                staged = self.stageout.put(stepdir / f.pfn, lfn)
                self.report.outputs.append(
                    StagedOutput(
                        step=step.name,
                        module=out.module,
                        tier=out.tier,
                        dataset=out.dataset,
                        lfn=lfn,
                        pfn=staged.pfn,
                        size=staged.size,
                        adler32=staged.adler32,
                        events=f.events,
                        lumis=f.runs,
                        parents=[p for p in f.parents if p.startswith("/store")],
                    )
                )

    def run(self) -> int:
        t0 = time.monotonic()
        self.report.input_lfns = [f.lfn for f in self.job.input_files]
        if self.job.first_event is not None and not self.job.input_files and self.job.events:
            self.report.event_range = (self.job.first_event, self.job.first_event + self.job.events - 1)
        try:
            results = self.run_steps()
            if self.report.exit_code == 0:
                try:
                    self.stage_out(results)
                except StageOutError as exc:
                    self._fail(results[-1][0], exc.exit_code, str(exc), None)
        finally:
            self.report.wall_s = time.monotonic() - t0
            self.report.write(self.outdir)
        # the FJRs are copied next to the report; the step outputs must not travel back with the job
        shutil.rmtree(self.workdir, ignore_errors=True)
        return self.report.exit_code


def run_job(manifest_path: str | Path, node: str, outdir: Path | None = None) -> int:
    """Entry point of ``wms2-job run``: returns the process exit status."""
    manifest = WorkUnitManifest.load(manifest_path)
    out = outdir or Path.cwd()
    wrapper = Wrapper(manifest, node, out, out / f"{node}.work")
    try:
        code = wrapper.run()
    except Exception as exc:
        wrapper.report.exit_code = UNCAUGHT_EXCEPTION
        wrapper.report.error_message = f"{type(exc).__name__}: {exc}"
        wrapper.report.write(out)
        raise
    return process_exit_status(code)
