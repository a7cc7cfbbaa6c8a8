"""Real multi-core CPU burning for the simulator.

A step with ``threads`` threads is emulated by the simulator process plus ``threads - 1`` forked worker
processes (each has its own interpreter, so the burn is not serialised by the GIL).  Per event the
configured CPU time is split into a serial part (main process only) and a parallel part (every
process), sized so that CPU / (wall * threads) equals the configured CPU efficiency.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

#: Granularity of the busy loop between two clock reads (iterations).
_SPIN_BATCH = 2000
#: settle() never adds more than this fraction of the elapsed wall time.
_MAX_SETTLE = 1.0


def burn_cpu(seconds: float) -> None:
    """Spin on this process's CPU until it has used ``seconds`` of CPU time."""
    if seconds <= 0:
        return
    end = time.process_time() + seconds
    x = 1.0
    while time.process_time() < end:
        for _ in range(_SPIN_BATCH):
            x = x * 1.0000001 + 1e-9


def _worker(conn: Connection) -> None:
    while True:
        seconds = conn.recv()
        if seconds is None:
            conn.close()
            return
        burn_cpu(seconds)
        conn.send(True)


@dataclass(frozen=True)
class BurnPlan:
    """How one unit of work of ``cpu_s`` CPU seconds is executed."""

    serial_s: float
    parallel_s: float
    idle_s: float


def plan_burn(cpu_s: float, threads: int, efficiency: float) -> BurnPlan:
    """Split ``cpu_s`` into serial, parallel (per thread) and idle time.

    Wall W = cpu / (efficiency * threads).  With s serial and p parallel: s + p = W and s + T p = cpu.
    When efficiency * threads <= 1 the work is serial plus an idle wait (I/O-bound step).
    """
    if cpu_s <= 0:
        return BurnPlan(0.0, 0.0, 0.0)
    wall = cpu_s / (efficiency * threads)
    if threads == 1 or wall >= cpu_s:
        return BurnPlan(cpu_s, 0.0, max(wall - cpu_s, 0.0))
    parallel = (cpu_s - wall) / (threads - 1)
    return BurnPlan(max(wall - parallel, 0.0), parallel, 0.0)


class Burner:
    """The simulator's threads: the calling process plus ``threads - 1`` worker processes."""

    def __init__(self, threads: int, efficiency: float = 1.0):
        self.threads = threads
        self.efficiency = efficiency
        self._conns: list[Connection] = []
        self._procs: list[mp.process.BaseProcess] = []
        #: CPU seconds handed to the worker processes so far (they are reaped only at close()).
        self.worker_cpu_s = 0.0
        ctx = mp.get_context("fork")
        for _ in range(threads - 1):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child,), daemon=True)
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)

    def burn(self, cpu_s: float) -> None:
        plan = plan_burn(cpu_s, self.threads, self.efficiency)
        burn_cpu(plan.serial_s)
        if plan.parallel_s > 0:
            for conn in self._conns:
                conn.send(plan.parallel_s)
            self.worker_cpu_s += plan.parallel_s * len(self._conns)
            burn_cpu(plan.parallel_s)
            for conn in self._conns:
                conn.recv()
        if plan.idle_s > 0:
            time.sleep(plan.idle_s)

    def settle(self, wall_s: float, cpu_s: float) -> None:
        """Bring a step's overall CPU efficiency back to the configured one.

        Start-up, memory allocation and output writing run on one thread and pull the efficiency
        down (or, for I/O-bound profiles, up).  Burn on every thread (at most ``_MAX_SETTLE`` of the
        elapsed wall time) or idle, so that the whole step follows its profile as the FJR reports it.
        """
        threads, eff = self.threads, self.efficiency
        measured = cpu_s / (wall_s * threads) if wall_s > 0 else eff
        if measured > eff:
            time.sleep(min(cpu_s / (eff * threads) - wall_s, _MAX_SETTLE * wall_s))
            return
        if threads == 1 or eff >= 1.0:
            return
        parallel = (eff * threads * wall_s - cpu_s) / (threads * (1.0 - eff))
        parallel = min(parallel, _MAX_SETTLE * wall_s)
        if parallel <= 0:
            return
        for conn in self._conns:
            conn.send(parallel)
        self.worker_cpu_s += parallel * len(self._conns)
        burn_cpu(parallel)
        for conn in self._conns:
            conn.recv()

    def close(self) -> None:
        """Stop and reap the workers (their CPU then shows in RUSAGE_CHILDREN)."""
        for conn in self._conns:
            conn.send(None)
            conn.close()
        for proc in self._procs:
            proc.join()
        self._conns, self._procs = [], []

    def __enter__(self) -> Burner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
