"""The local pool: one partitionable slot per configured site, matchmaking, and job processes.

A slot has a machine ad with ``GLIDEIN_CMSSite``, ``Cpus``, ``Memory`` and ``Name``.  A job matches a
site when its ``Requirements`` (evaluated with MY = job ad, TARGET = machine ad) is TRUE, it fits the
slot's nominal size, and the site is in ``DESIRED_Sites`` when the job sets it (the glidein START
expression of CMS pools).  Several jobs share a slot up to ``cores x oversubscribe`` CPUs and
``memory x oversubscribe`` MB.  A job that no site can ever run stays idle with the reason.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO

from wms2.engines.local.classad_expr import UNDEFINED, ClassAd, ExprError
from wms2.engines.local.jobs import JobExit, JobState, PoolJob
from wms2.engines.local.reaper import Reaper

PASSED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR")
MAX_SCAN_PER_CYCLE = 2000  # idle jobs examined per matchmaking pass
JOB_STATUS_IDLE, JOB_STATUS_RUNNING = 1, 2


@dataclass
class Slot:
    site: str
    cores: int
    memory_mb: int
    cap_cpus: float
    cap_memory: float
    used_cpus: float = 0.0
    used_memory: float = 0.0
    running: int = 0

    def __post_init__(self) -> None:
        self.nominal_ad = self.machine_ad()

    def machine_ad(self, cpus: int | None = None, memory: int | None = None) -> ClassAd:
        return ClassAd.from_literals({
            "GLIDEIN_CMSSite": self.site, "Name": f"slot1@{self.site}.wms2-local", "Machine": "wms2-local",
            "Cpus": cpus if cpus is not None else self.cores,
            "Memory": memory if memory is not None else self.memory_mb,
            "TotalCpus": self.cores, "TotalMemory": self.memory_mb, "OpSys": "LINUX", "Arch": "X86_64",
        })

    def fits_now(self, job: PoolJob) -> bool:
        return (self.used_cpus + job.request_cpus <= self.cap_cpus
                and self.used_memory + job.request_memory <= self.cap_memory)


def wrapper_path() -> Path:
    return Path(str(resources.files("wms2.engines.local") / "jobwrap.sh"))


class Pool:
    def __init__(self, slots: list[Slot], reaper: Reaper, spool: Path) -> None:
        self.slots = slots
        self.reaper = reaper
        self.spool = spool
        self.execute_dir = spool / "execute"
        self.exit_dir = spool / "exits"
        self.execute_dir.mkdir(parents=True, exist_ok=True)
        self.exit_dir.mkdir(parents=True, exist_ok=True)
        self._idle: list[tuple[int, int, int, int, PoolJob]] = []
        self._seq = 0
        self.jobs: dict[str, PoolJob] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._wrapper = str(wrapper_path())
        self._base_env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}

    # -- submission and matching -------------------------------------------------------------------
    def why_never(self, job: PoolJob) -> str | None:
        reasons: list[str] = []
        for slot in self.slots:
            reason = self._mismatch(job, slot)
            if reason is None:
                return None
            reasons.append(f"{slot.site}: {reason}")
        return "no slot can ever match: " + "; ".join(reasons)

    def _mismatch(self, job: PoolJob, slot: Slot) -> str | None:
        if job.request_cpus > slot.cores:
            return f"request_cpus {job.request_cpus} > Cpus {slot.cores}"
        if job.request_memory > slot.memory_mb:
            return f"request_memory {job.request_memory} > Memory {slot.memory_mb}"
        machine = slot.nominal_ad
        try:
            if job.ad.eval("Requirements", machine) is not True:
                return "Requirements not satisfied"
            desired = job.ad.eval("DESIRED_Sites", machine)
        except ExprError as exc:
            return f"Requirements cannot be evaluated: {exc}"
        if desired is not UNDEFINED and slot.site not in [s.strip() for s in str(desired).split(",")]:
            return "site not in DESIRED_Sites"
        return None

    def submit(self, job: PoolJob, priority: int) -> None:
        self.jobs[job.job_id] = job
        job.idle_reason = self.why_never(job)
        self._seq += 1
        heapq.heappush(self._idle, (-priority, -job.priority, job.cluster, self._seq, job))

    def match(self) -> int:
        """Start as many idle jobs as fit; returns how many started."""
        started = 0
        skipped: list[tuple[int, int, int, int, PoolJob]] = []
        scanned = 0
        while self._idle and scanned < MAX_SCAN_PER_CYCLE:
            if not any(s.used_cpus + 1 <= s.cap_cpus for s in self.slots):
                break
            entry = heapq.heappop(self._idle)
            job = entry[4]
            scanned += 1
            if job.state != JobState.idle:
                continue
            if job.idle_reason is not None:
                skipped.append(entry)
                continue
            slot = self._choose(job)
            if slot is None:
                skipped.append(entry)
                continue
            self._start(job, slot)
            started += 1
        for entry in skipped:
            heapq.heappush(self._idle, entry)
        return started

    def _choose(self, job: PoolJob) -> Slot | None:
        best: Slot | None = None
        for slot in self.slots:
            if slot.fits_now(job) and self._mismatch(job, slot) is None and (
                    best is None or slot.cap_cpus - slot.used_cpus > best.cap_cpus - best.used_cpus):
                best = slot
        return best

    # -- running -----------------------------------------------------------------------------------
    def _prepare_scratch(self, job: PoolJob, slot: Slot) -> Path:
        scratch = self.execute_dir / f"dir_{job.cluster}_{job.proc}"
        scratch.mkdir(parents=True, exist_ok=True)
        (scratch / ".machine.ad").write_text(slot.machine_ad(job.request_cpus, job.request_memory).render())
        job.ad.set_value("RemoteHost", f"slot1@{slot.site}.wms2-local")
        job.ad.set_value("GLIDEIN_CMSSite", slot.site)
        (scratch / ".job.ad").write_text(job.ad.render())
        if job.transfer:
            for name in job.transfer_inputs:
                src = (job.iwd / name)
                dest = scratch / Path(name.rstrip("/")).name
                if src.is_dir():
                    shutil.copytree(src, dest, dirs_exist_ok=True)
                else:
                    shutil.copy2(src, dest)
        return scratch

    def _start(self, job: PoolJob, slot: Slot) -> None:
        now = time.time()
        job.state, job.site, job.start_time = JobState.running, slot.site, now
        job.ad.set_value("JobStatus", JOB_STATUS_RUNNING)
        job.ad.set_value("EnteredCurrentStatus", int(now))
        job.ad.set_value("JobCurrentStartDate", int(now))
        slot.used_cpus += job.request_cpus
        slot.used_memory += job.request_memory
        slot.running += 1
        try:
            scratch = self._prepare_scratch(job, slot)
        except OSError as exc:
            self._finish(job, JobExit(None, removed_reason=f"file transfer failed: {exc}"))
            return
        env = dict(os.environ) if job.getenv else dict(self._base_env)
        env.update(job.env)
        env.update({
            "_CONDOR_SCRATCH_DIR": str(scratch), "_CONDOR_MACHINE_AD": str(scratch / ".machine.ad"),
            "_CONDOR_JOB_AD": str(scratch / ".job.ad"), "OMP_NUM_THREADS": str(job.request_cpus),
            "_CONDOR_SLOT": "slot1", "TMPDIR": str(scratch),
        })
        exit_file = self.exit_dir / f"{job.job_id}.exit"
        cwd = scratch if job.transfer else job.iwd
        handles: list[IO[bytes]] = []
        try:
            stdout = _open(job.output, "wb", handles)
            stderr = _open(job.error, "wb", handles)
            stdin = _open(job.stdin, "rb", handles)
            proc = subprocess.Popen(
                ["/bin/sh", self._wrapper, str(exit_file), *job.argv], cwd=cwd, env=env,
                stdin=stdin, stdout=stdout, stderr=stderr, start_new_session=True, close_fds=True,
            )
        except OSError as exc:
            self._finish(job, JobExit(None, removed_reason=f"cannot start job: {exc}"))
            return
        finally:
            for fh in handles:
                fh.close()
        job.pid = proc.pid
        self._procs[job.job_id] = proc
        # a symlink is one system call; its target holds "pid site" for recovery
        os.symlink(f"{proc.pid} {slot.site}", self.exit_dir / f"{job.job_id}.pid")
        if job.on_execute:
            job.on_execute(job)
        self.reaper.watch(proc, lambda code, j=job: self._exited(j, code))

    def _exited(self, job: PoolJob, code: int | None) -> None:
        self._procs.pop(job.job_id, None)
        if job.state == JobState.removed:
            self._finish(job, JobExit(None, removed_reason=job.extra.get("remove_reason"),
                                      by_dagman=bool(job.extra.get("by_dagman"))))
            return
        if code is None:
            code = read_exit_file(self.exit_dir / f"{job.job_id}.exit")
            if code is None:
                self._finish(job, JobExit(None, removed_reason="job exit status lost while the pool was down"))
                return
        result = JobExit(None, signal=-code) if code is not None and code < 0 else JobExit(code)
        self._finish(job, result)

    def _finish(self, job: PoolJob, result: JobExit) -> None:
        if job.site is not None and job.state in (JobState.running, JobState.removed) and job.start_time:
            slot = next(s for s in self.slots if s.site == job.site)
            slot.used_cpus -= job.request_cpus
            slot.used_memory -= job.request_memory
            slot.running -= 1
            job.start_time = None
        scratch = self.execute_dir / f"dir_{job.cluster}_{job.proc}"
        if job.transfer and scratch.is_dir() and result.removed_reason is None:
            self._transfer_outputs(job, scratch)
        job.state = JobState.removed if result.removed_reason else JobState.done
        self.jobs.pop(job.job_id, None)
        try:
            if job.on_exit:
                job.on_exit(job, result)  # logs the job's end: recovery reads that, not the files below
        finally:
            # removed only once the end is logged: a daemon killed before would otherwise run the job again
            shutil.rmtree(scratch, ignore_errors=True)
            (self.exit_dir / f"{job.job_id}.exit").unlink(missing_ok=True)
            (self.exit_dir / f"{job.job_id}.pid").unlink(missing_ok=True)

    def _transfer_outputs(self, job: PoolJob, scratch: Path) -> None:
        inputs = {Path(n.rstrip("/")).name for n in job.transfer_inputs}
        names = job.transfer_outputs
        if names is None:
            names = [p.name for p in scratch.iterdir()
                     if p.is_file() and not p.name.startswith(".") and p.name not in inputs]
        for name in names:
            src = scratch / name
            if src.exists():
                shutil.copy2(src, job.iwd / Path(name).name)

    # -- removal and periodic expressions ----------------------------------------------------------
    def remove(self, job: PoolJob, reason: str, by_dagman: bool) -> None:
        if job.state == JobState.idle:
            job.state = JobState.removed
            self._finish(job, JobExit(None, removed_reason=reason, by_dagman=by_dagman))
        elif job.state == JobState.running:
            job.state = JobState.removed
            job.extra["remove_reason"] = reason
            job.extra["by_dagman"] = by_dagman
            if job.pid is not None:
                with contextlib.suppress(ProcessLookupError):  # already gone; the reaper reports it
                    os.killpg(job.pid, signal.SIGKILL)

    def check_periodic(self) -> None:
        now = int(time.time())
        for job in list(self.jobs.values()):
            if job.periodic_remove is None or job.state not in (JobState.idle, JobState.running):
                continue
            job.ad.set_value("ServerTime", now)
            if job.start_time is not None:
                job.ad.set_value("RemoteWallClockTime", now - int(job.start_time))
            try:
                hit = job.ad.eval("PeriodicRemove") is True
            except ExprError:
                hit = False
            if hit:
                reason = job.ad.eval("PeriodicRemoveReason")
                text = reason if isinstance(reason, str) else (
                    f"The job attribute PeriodicRemove expression '{job.periodic_remove}' evaluated to TRUE")
                self.remove(job, text, by_dagman=False)

    def idle_count(self) -> int:
        return sum(1 for j in self.jobs.values() if j.state == JobState.idle)

    def adopt(self, job: PoolJob, slot_site: str, pid: int) -> None:
        """Re-attach a job that kept running while the daemon was down (recovery)."""
        slot = next((s for s in self.slots if s.site == slot_site), self.slots[0])
        job.state, job.site, job.pid, job.start_time = JobState.running, slot.site, pid, time.time()
        slot.used_cpus += job.request_cpus
        slot.used_memory += job.request_memory
        slot.running += 1
        self.jobs[job.job_id] = job
        if pid <= 0 or not self.reaper.watch_pid(pid, lambda code, j=job: self._exited(j, code)):
            self._exited(job, None)


def _open(path: Path | None, mode: str, handles: list[IO[bytes]]) -> IO[bytes] | int:
    if path is None:
        return subprocess.DEVNULL
    fh: IO[bytes] = open(path, mode)  # noqa: SIM115 - closed by the caller after Popen
    handles.append(fh)
    return fh


def read_exit_file(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    try:
        return int(text)
    except ValueError:
        return None
