"""A CMSSW-like step for local and test mode (``python -m wms2.sandbox.simulator --config run.json``).

Per event it burns the configured CPU on the configured threads (:mod:`wms2.sandbox.burner`), holds the
configured resident memory (with an optional transient peak), then writes one real ROOT file per output
module (a tree ``Events``: run/lumi/event, the physics-like branches of :mod:`wms2.sandbox.physics`
and a filler ``payload``, sized per event as configured; written by :mod:`wms2.sandbox.rootfile`, not
uproot, whose import costs a job twenty times the write) and a genuine FJR.  ``SimulatorConfig.seed``
makes the values reproducible; ``SimulatorConfig.distortion`` changes one branch (validation tests).
Faults chosen by the wrapper (:class:`~wms2.sandbox.manifest.FaultSpec`) are applied here.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from wms2.sandbox.burner import Burner
from wms2.sandbox.exitcodes import (
    EXCEEDED_RSS,
    FILE_READ_ERROR,
    GENERIC_CMS_EXCEPTION,
    process_exit_status,
)
from wms2.sandbox.fjr import FjrError, FjrInputFile, FjrOutputFile, FjrReport
from wms2.sandbox.fjr_writer import performance_sections, write_fjr
from wms2.sandbox.manifest import OutputModule
from wms2.sandbox.memory import current_rss_mb, peak_rss_mb, peak_vsize_mb
from wms2.sandbox.physics import PHYSICS_BYTES, distort, generate
from wms2.sandbox.rootfile import TreeWriter
from wms2.sandbox.simrun import SimInput as SimInput
from wms2.sandbox.simrun import SimulatorRun as SimulatorRun

#: Work is handed to the threads in slices of about this much CPU (seconds): small enough to keep
#: per-event bookkeeping (peaks, crashes, memory checks), large enough to hide the IPC cost.
_BURN_SLICE_S = 0.05
#: Bytes per event taken by the run / luminosityBlock / event branches.
_ID_BYTES = 16
#: Events written per batch, i.e. per basket of each branch (at least; small events are batched up to
#: _WRITE_BATCH_BYTES, so that a file has few baskets while one batch bounds the memory the write takes).
_WRITE_CHUNK = 500
_WRITE_BATCH_BYTES = 8 * 1024 * 1024
_MB = 1024 * 1024
_PAGE = resource.getpagesize()  # the unit the kernel makes resident


class _Events:
    """Run, lumi and event number of every event the step reads or generates."""

    def __init__(self, run: SimulatorRun):
        runs: list[np.ndarray] = []
        lumis: list[np.ndarray] = []
        numbers: list[np.ndarray] = []
        self.source: list[int] = []
        if run.inputs:
            for idx, inp in enumerate(run.inputs):
                self._add(runs, lumis, numbers, inp.events, inp.first_event + 1, inp.lumis, run.run)
                self.source += [idx] * inp.events
        else:
            self._add(runs, lumis, numbers, run.events, run.first_event, run.lumis, run.run)
            self.source = [-1] * run.events
        self.run = np.concatenate(runs) if runs else np.zeros(0, np.int32)
        self.lumi = np.concatenate(lumis) if lumis else np.zeros(0, np.int32)
        self.number = np.concatenate(numbers) if numbers else np.zeros(0, np.int64)

    @staticmethod
    def _add(runs: list, lumis: list, numbers: list, n: int, first: int, lumi_map: dict, default_run: int) -> None:
        pairs = [(int(r), int(lumi)) for r, ls in sorted(lumi_map.items()) for lumi in ls] or [(default_run, 1)]
        idx = (np.arange(n) * len(pairs)) // max(n, 1)
        runs.append(np.array([pairs[i][0] for i in idx], np.int32))
        lumis.append(np.array([pairs[i][1] for i in idx], np.int32))
        numbers.append(np.arange(first, first + n, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.number)


class StepFailure(Exception):
    def __init__(self, exit_status: int, kind: str, message: str):
        super().__init__(message)
        self.exit_status = exit_status
        self.kind = kind


def resident_block(nbytes: int) -> np.ndarray:
    """``nbytes`` of resident memory: one byte written per page, which makes the kernel map (and zero) every
    page, as a payload's own data would.  Writing every byte (``np.ones``) holds the same RSS for 3-5x the
    CPU, and this runs in every simulated job."""
    block = np.empty(nbytes, dtype=np.uint8)
    block[::_PAGE] = 1
    return block


class Simulator:
    def __init__(self, run: SimulatorRun):
        self.run = run
        self.cfg = run.config
        self.fault = run.fault
        self.events = _Events(run)
        self.started = time.monotonic()
        self._ballast: list[np.ndarray] = []
        self.processed = 0

    # memory ----------------------------------------------------------------------------------
    def _hold(self, total_mb: float) -> np.ndarray | None:
        """Allocate and touch enough memory to bring the process RSS up to ``total_mb``."""
        missing = total_mb - current_rss_mb()
        if missing <= 0:
            return None
        block = resident_block(int(missing * _MB))
        self._check_memory()
        return block

    def _check_memory(self) -> None:
        limit = self.run.memory_limit_mb
        if limit and current_rss_mb() > limit:
            raise StepFailure(
                EXCEEDED_RSS,
                "ExceededResourceRSS",
                f"RSS {current_rss_mb():.0f} MB exceeds the job's request_memory {limit:.0f} MB",
            )

    # event loop ------------------------------------------------------------------------------
    def _fail_index(self) -> int | None:
        f = self.fault
        if f is None or not (f.exit_code is not None or f.signal is not None or f.crash_after_events is not None):
            return None
        return min(f.crash_after_events or 0, len(self.events))

    def _bad_input_index(self) -> int | None:
        if self.fault is None or not self.fault.bad_input_lfn:
            return None
        for idx, inp in enumerate(self.run.inputs):
            if self.fault.bad_input_lfn in (inp.lfn, inp.pfn):
                return idx
        return None

    def loop(self, burner: Burner) -> None:
        n = len(self.events)
        cpu = self.cfg.cpu_seconds_per_event * (self.fault.slow_factor if self.fault and self.fault.slow_factor else 1)
        steady = self._hold(self.cfg.memory_mb)
        peak_at = int(self.cfg.peak_at_fraction * max(n - 1, 0)) if self.cfg.peak_memory_mb else None
        blowup_at = n // 2 if self.fault and self.fault.memory_blowup_mb else None
        fail_at = self._fail_index()
        bad = self._bad_input_index()
        pending = 0.0
        for i in range(n + 1):
            special = i in (peak_at, blowup_at, fail_at) or i == n
            if bad is not None and i < n and self.events.source[i] == bad:
                burner.burn(pending)
                inp = self.run.inputs[bad]
                raise StepFailure(
                    FILE_READ_ERROR,
                    "FileReadError",
                    f"Fatal Root Error: read failure on file {inp.lfn} (PFN {inp.pfn or inp.lfn}): "
                    "the file is corrupt or could not be read",
                )
            if special or pending >= _BURN_SLICE_S:
                burner.burn(pending)
                pending = 0.0
                self._check_memory()
            if i == fail_at:
                self._inject_failure()
            if i == n:
                break
            if i == blowup_at and self.fault and self.fault.memory_blowup_mb:
                self._ballast.append(resident_block(int(self.fault.memory_blowup_mb * _MB)))
                self._check_memory()
            if i == peak_at and self.cfg.peak_memory_mb:
                extra = self._hold(self.cfg.peak_memory_mb)
                burner.burn(cpu)
                del extra
            else:
                pending += cpu
            self.processed = i + 1
        del steady
        self._ballast.clear()

    def _inject_failure(self) -> None:
        f = self.fault
        assert f is not None
        if f.signal is not None:
            sys.stdout.flush()
            os.kill(os.getpid(), f.signal)
            time.sleep(1)
        code = f.exit_code if f.exit_code is not None else GENERIC_CMS_EXCEPTION
        raise StepFailure(code, "InjectedFault", f"injected failure after {self.processed} events (exit {code})")

    # outputs -------------------------------------------------------------------------------------
    def selected(self) -> np.ndarray:
        n = len(self.events)
        eff = self.cfg.filter_efficiency
        if eff >= 1.0:
            return np.ones(n, dtype=bool)
        first = int(self.events.number[0]) if n else 0
        rng = np.random.default_rng([self.cfg.seed, first])
        return rng.random(n) < eff

    def write_outputs(self, keep: np.ndarray) -> list[FjrOutputFile]:
        if self.fault and self.fault.no_output:
            return []
        workdir = Path(self.run.workdir)
        # Each job its own filler stream (a stream shared by all jobs repeats the same bytes in every file).
        rng = np.random.default_rng([self.cfg.seed, 7, self._stream()])
        physics = self._physics()
        extra = PHYSICS_BYTES if physics else 0
        files = []
        for out in self.run.outputs:
            path = workdir / f"{out.module}.root"
            nbytes = max(int(self.cfg.size_per_event_kb.get(out.tier, 0.0) * 1024) - _ID_BYTES - extra, 0)
            idx = np.flatnonzero(keep)
            with TreeWriter(path, "Events") as rootfile:
                batch = max(_WRITE_CHUNK, _WRITE_BATCH_BYTES // (nbytes + _ID_BYTES + extra))
                for start in range(0, max(len(idx), 1), batch):
                    chunk = idx[start : start + batch]
                    data = {
                        "run": self.events.run[chunk],
                        "luminosityBlock": self.events.lumi[chunk],
                        "event": self.events.number[chunk],
                    }
                    data.update((name, values[chunk]) for name, values in physics.items())
                    if nbytes:
                        data["payload"] = rng.integers(0, 256, size=(len(chunk), nbytes), dtype=np.uint8)
                    if self.cfg.distortion is not None:
                        data = distort(data, self.cfg.distortion, self.cfg.seed, self._stream() + start)
                    rootfile.write(data)
            files.append(self._output_record(out, path, idx))
        return files

    def _stream(self) -> int:
        """This job's random stream: its first event number (and first input file, when it reads some)."""
        first = int(self.events.number[0]) if len(self.events) else 0
        lfn = self.run.inputs[0].lfn if self.run.inputs else ""
        return (zlib.crc32(lfn.encode()) << 32) | (first & 0xFFFFFFFF)

    def _physics(self) -> dict[str, np.ndarray]:
        if not self.cfg.physics:
            return {}
        return generate(self.cfg.seed, self._stream(), len(self.events))

    def _output_record(self, out: OutputModule, path: Path, idx: np.ndarray) -> FjrOutputFile:
        runs: dict[str, list[int]] = {}
        counts: dict[str, dict[str, int]] = {}
        for r, lumi in zip(self.events.run[idx].tolist(), self.events.lumi[idx].tolist(), strict=True):
            per_run = counts.setdefault(str(r), {})
            per_run[str(lumi)] = per_run.get(str(lumi), 0) + 1
        for r, lumi_counts in counts.items():
            runs[r] = sorted(int(x) for x in lumi_counts)
        return FjrOutputFile(
            lfn="",
            pfn=path.name,
            module_label=out.module,
            guid=f"{self.run.step}-{out.module}-{int(self.events.number[0]) if len(self.events) else 0}",
            output_module_class="PoolOutputModule",
            data_type=self.run.data_type,
            events=len(idx),
            runs=runs,
            lumi_events=counts,
            parents=[i.lfn for i in self.run.inputs],
        )

    def input_records(self, processed: int) -> list[FjrInputFile]:
        records = []
        done = processed
        for inp in self.run.inputs:
            read = min(inp.events, max(done, 0))
            done -= inp.events
            records.append(FjrInputFile(lfn=inp.lfn, pfn=inp.pfn or inp.lfn, events_read=read, runs=inp.lumis))
        return records


def _own_cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def simulate(run: SimulatorRun) -> int:
    """Run the step, write its FJR, return the CMS exit status (0 on success)."""
    t0, c0 = time.monotonic(), _own_cpu_seconds()
    sim = Simulator(run)
    report = FjrReport()
    outputs: list[FjrOutputFile] = []
    status = 0
    try:
        with Burner(run.threads, run.config.cpu_efficiency) as burner:
            sim.loop(burner)
            outputs = sim.write_outputs(sim.selected())
            burner.settle(time.monotonic() - t0, _own_cpu_seconds() - c0 + burner.worker_cpu_s)
    except StepFailure as failure:
        status = failure.exit_status
        report.errors = [FjrError(exit_status=failure.exit_status, type=failure.kind, message=str(failure))]
    except MemoryError as exc:
        status = EXCEEDED_RSS
        report.errors = [FjrError(exit_status=status, type="ExceededResourceRSS", message=f"bad_alloc: {exc}")]
    written_mb = sum((Path(run.workdir) / f.pfn).stat().st_size for f in outputs) / _MB
    report.input_files = sim.input_records(sim.processed)
    report.output_files = outputs
    report.performance = performance_sections(
        wall_s=time.monotonic() - t0,
        cpu_s=_cpu_seconds() - c0,
        threads=run.threads,
        peak_rss_mb=peak_rss_mb(),
        peak_vsize_mb=peak_vsize_mb(),
        events=sim.processed,
        read_mb=0.0,
        write_mb=written_mb,
    )
    write_fjr(report, Path(run.workdir) / run.fjr)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wms2-simulator", description=__doc__)
    parser.add_argument("--config", required=True, help="SimulatorRun JSON written by the wrapper")
    args = parser.parse_args(argv)
    run = SimulatorRun.model_validate_json(Path(args.config).read_text())
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return process_exit_status(simulate(run))


if __name__ == "__main__":
    sys.exit(main())
