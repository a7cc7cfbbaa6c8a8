"""Run one step of a processing job: build its command and inputs, run it, read its FJR."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from wms2.sandbox import cmsrun
from wms2.sandbox.exitcodes import (
    NO_OUTPUT_IN_REPORT,
    NO_REPORT,
    WRAPPER_MEMORY_KILL,
    signal_exit_code,
)
from wms2.sandbox.fjr import FjrParseError, FjrReport, parse_fjr
from wms2.sandbox.manifest import FaultSpec, JobSpec, SimulatorConfig, StepSpec
from wms2.sandbox.memory import tree_memory_mb, tree_pids, tree_rss_mb
from wms2.sandbox.simrun import SimInput, SimulatorRun

FJR_NAME = "FrameworkJobReport.xml"
#: Memory watchdog: seconds between RSS readings, and readings over the limit before the kill
#: (WMCore's watchdog likewise tolerates short excursions before killing with 50660).
WATCHDOG_POLL_S = 0.5
WATCHDOG_STRIKES = 3
#: The watchdog reads the tree's PSS (smaps_rollup, about 2 ms per 150 MB process) only when its RSS
#: (``/proc/<pid>/status``, cheap) is above this fraction of the limit: PSS <= RSS, so a tree below it
#: is under the limit.  Half, not 1.0, because the kernel's RSS counters are approximate (per-CPU
#: batches of pages): half the request is far beyond their error, so no poll's verdict changes.
WATCHDOG_RSS_SKIP_FRACTION = 0.5


@dataclass
class StepInput:
    lfn: str
    pfn: str
    events: int
    first_event: int = 0
    lumis: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class StepOutcome:
    exit_code: int
    error_type: str = ""
    error_message: str = ""
    fjr: FjrReport | None = None
    fjr_path: Path | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0


def first_step_inputs(job: JobSpec, pfn_of: dict[str, str]) -> list[StepInput]:
    inputs = []
    for slice_ in job.input_files:
        events = slice_.max_events if slice_.max_events is not None else max(slice_.events - slice_.first_event, 0)
        inputs.append(
            StepInput(
                lfn=slice_.lfn,
                pfn=slice_.pfn or pfn_of.get(slice_.lfn, slice_.lfn),
                events=events,
                first_event=slice_.first_event,
                lumis=slice_.lumis,
            )
        )
    return inputs


def chained_inputs(step: StepSpec, previous: FjrReport, previous_dir: Path) -> list[StepInput]:
    """A step's inputs taken from the output of the step it reads (``input_step``/``input_module``)."""
    files = previous.output_files
    files = [f for f in files if f.module_label == step.input_module] if step.input_module else files[:1]
    return [StepInput(lfn=f.lfn or f.pfn, pfn=str(previous_dir / f.pfn), events=f.events, lumis=f.runs) for f in files]


#: What a simulator step's environment sets on top of the job's.  The simulator's threads are its burner
#: processes (wms2.sandbox.burner) and it makes no BLAS call, but numpy's OpenBLAS starts as many threads
#: as OMP_NUM_THREADS (the job's cores, set by the starter) at import, and again in each forked burner
#: worker: about 0.13 CPU-s of spinning per 2-core run, counted as payload CPU (test-speed.md).
SIMULATOR_ENV = {"OPENBLAS_NUM_THREADS": "1"}


def _simulator_command(
    step: StepSpec,
    job: JobSpec,
    inputs: list[StepInput],
    fault: FaultSpec | None,
    memory_limit_mb: float | None,
    workdir: Path,
) -> tuple[list[str], dict[str, str]]:
    """The simulator's command line and what its environment adds to the job's."""
    run = SimulatorRun(
        step=step.name,
        threads=step.threads,
        config=step.simulator or SimulatorConfig(),
        outputs=step.outputs,
        events=job.events if not inputs else 0,
        first_event=job.first_event or 1,
        run=job.run or 1,
        lumis=job.lumis,
        inputs=[
            SimInput(lfn=i.lfn, pfn=i.pfn, events=i.events, first_event=i.first_event, lumis=i.lumis) for i in inputs
        ],
        fault=fault,
        memory_limit_mb=memory_limit_mb,
        fjr=FJR_NAME,
        workdir=str(workdir),
        data_type="MC" if not job.input_files else "Data",
    )
    config = workdir / "simulator.json"
    config.write_text(run.model_dump_json(indent=1))
    return [sys.executable, "-m", "wms2.sandbox.simulator", "--config", str(config)], dict(SIMULATOR_ENV)


def _cmsrun_command(step: StepSpec, job: JobSpec, inputs: list[StepInput], workdir: Path) -> tuple[list[str], dict]:
    assert step.cmsrun is not None
    lumis: dict[str, list[int]] = {}
    for inp in inputs:
        for run, ls in inp.lumis.items():
            lumis.setdefault(run, []).extend(ls)
    first_lumi = min((min(ls) for ls in job.lumis.values() if ls), default=None)
    tweak = cmsrun.PsetTweak(
        input_files=[i.pfn for i in inputs],
        skip_events=inputs[0].first_event if len(inputs) == 1 else 0,
        max_events=sum(i.events for i in inputs) if inputs else job.events,
        lumis=cmsrun.lumi_ranges(lumis),
        first_event=None if inputs else job.first_event,
        run=None if inputs else job.run,
        first_lumi=None if inputs else first_lumi,
        threads=step.threads,
        outputs={o.module: f"{o.module}.root" for o in step.outputs},
        global_tag=step.cmsrun.global_tag,
    )
    path = cmsrun.write_tweak(tweak, workdir / "tweak.json")
    return cmsrun.build_command(step.cmsrun, workdir=workdir, fjr=FJR_NAME), cmsrun.build_env(step.cmsrun, tweak=path)


def run_step(
    step: StepSpec,
    job: JobSpec,
    inputs: list[StepInput],
    workdir: Path,
    *,
    fault: FaultSpec | None,
    memory_limit_mb: float | None,
) -> StepOutcome:
    workdir.mkdir(parents=True, exist_ok=True)
    if step.kind == "simulator":
        command, extra = _simulator_command(step, job, inputs, fault, memory_limit_mb, workdir)
    else:
        command, extra = _cmsrun_command(step, job, inputs, workdir)
    env = {**os.environ, **extra}
    fjr_path = workdir / FJR_NAME
    fjr_path.unlink(missing_ok=True)
    t0 = time.monotonic()
    before = os.times()
    proc = subprocess.Popen(command, cwd=workdir, env=env)
    killed_rss = _watch_memory(proc, memory_limit_mb)
    after = os.times()
    outcome = StepOutcome(
        exit_code=0,
        wall_s=time.monotonic() - t0,
        cpu_s=(after.children_user - before.children_user) + (after.children_system - before.children_system),
    )
    if killed_rss is not None:
        outcome.exit_code, outcome.error_type = WRAPPER_MEMORY_KILL, "MemoryKill"
        outcome.error_message = (
            f"step {step.name} killed by the wrapper: PSS {killed_rss:.0f} MB above request_memory"
            f" {memory_limit_mb:.0f} MB"
        )
        return outcome
    return _interpret(step, proc.returncode, fjr_path, outcome)


def _pidfd(pid: int) -> int | None:
    """A pidfd of the step (Linux >= 5.3), None where there is none: then ``Popen.wait`` polls."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _ended(proc: subprocess.Popen, pidfd: int | None, timeout: float) -> bool:
    """Wait up to ``timeout`` s for the step to end; True (and reaped) when it did.  With a pidfd the
    wait sleeps in ``select``; ``Popen.wait(timeout=...)`` instead polls ``waitpid`` with sleeps of up to
    50 ms, about 1.2 ms of CPU per second of payload (test-speed.md)."""
    if pidfd is None:
        try:
            proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    if select.select([pidfd], [], [], timeout)[0]:
        proc.wait()
        return True
    return False


def _watch_memory(proc: subprocess.Popen, limit_mb: float | None) -> float | None:
    """Wait for the step; kill it and its descendants when their PSS stays above ``limit_mb``.

    Returns the PSS that got the step killed, None when it ended by itself.  The step must be over
    the limit on ``WATCHDOG_STRIKES`` consecutive polls, so a payload's own memory check (CMSSW's
    ExceededResourceRSS, the simulator's 8031) reports first when it has one.
    """
    pidfd = _pidfd(proc.pid)
    try:
        return _watch(proc, pidfd, limit_mb)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _watch(proc: subprocess.Popen, pidfd: int | None, limit_mb: float | None) -> float | None:
    strikes = 0
    while True:
        if _ended(proc, pidfd, WATCHDOG_POLL_S):
            return None
        if not limit_mb:
            continue
        if tree_rss_mb(proc.pid) < limit_mb * WATCHDOG_RSS_SKIP_FRACTION:
            strikes = 0
            continue
        rss = tree_memory_mb(proc.pid)
        strikes = strikes + 1 if rss > limit_mb else 0
        if strikes >= WATCHDOG_STRIKES:
            for pid in tree_pids(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.wait()
            return rss


def _interpret(step: StepSpec, returncode: int, fjr_path: Path, outcome: StepOutcome) -> StepOutcome:
    """The step's CMS exit code: FrameworkError first, then signal/process status, then FJR checks."""
    if fjr_path.exists():
        outcome.fjr_path = fjr_path
        try:
            outcome.fjr = parse_fjr(fjr_path)
        except FjrParseError as exc:
            outcome.exit_code, outcome.error_type, outcome.error_message = exc.exit_code, "BadFJR", str(exc)
            return outcome
    if outcome.fjr is not None and outcome.fjr.errors:
        err = outcome.fjr.errors[0]
        outcome.exit_code, outcome.error_type, outcome.error_message = err.exit_status, err.type, err.message
        return outcome
    if returncode < 0:
        outcome.exit_code = signal_exit_code(-returncode)
        outcome.error_type, outcome.error_message = "Signal", f"step {step.name} killed by signal {-returncode}"
        return outcome
    if returncode != 0:
        outcome.exit_code, outcome.error_type = returncode, "StepFailed"
        outcome.error_message = f"step {step.name} exited with {returncode}"
        return outcome
    if outcome.fjr is None:
        outcome.exit_code, outcome.error_type = NO_REPORT, "NoFJR"
        outcome.error_message = f"step {step.name} did not produce a framework job report"
        return outcome
    produced = {f.module_label for f in outcome.fjr.output_files}
    missing = [o.module for o in step.outputs if o.module not in produced]
    if missing:
        outcome.exit_code, outcome.error_type = NO_OUTPUT_IN_REPORT, "NoOutput"
        outcome.error_message = f"step {step.name}: no output file in the report for {', '.join(missing)}"
    return outcome
