"""The two moments where a pool daemon killed at the wrong instant used to run a job a second time after
its restart: between starting a job's wrapper and recording its pid, and between removing a finished job's
files and logging its end.  Both are driven directly, with a real wrapper process."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

from wms2.engines.local.classad_expr import ClassAd
from wms2.engines.local.jobs import JobExit, PoolJob
from wms2.engines.local.pool import Pool, Slot, wrapper_path
from wms2.engines.local.reaper import Reaper
from wms2.engines.local.recovery import _pid_file


def _sched(spool: Path) -> SimpleNamespace:
    (spool / "exits").mkdir(parents=True, exist_ok=True)
    return SimpleNamespace(pool=SimpleNamespace(exit_dir=spool / "exits", execute_dir=spool / "execute"))


def _job(cluster: int, iwd: Path) -> PoolJob:
    return PoolJob(cluster=cluster, proc=0, owner=1, node="A", argv=["true"], iwd=iwd, env={}, getenv=False,
                   output=None, error=None, stdin=None, transfer=False, transfer_inputs=[], transfer_outputs=None,
                   request_cpus=1, request_memory=10, ad=ClassAd())


def test_a_wrapper_started_but_not_recorded_is_found_and_adopted(tmp_path: Path) -> None:
    sched = _sched(tmp_path)
    job = _job(7, tmp_path)
    scratch = sched.pool.execute_dir / "dir_7_0"
    scratch.mkdir(parents=True)
    (scratch / ".job.ad").write_text('JobStatus = 2\nGLIDEIN_CMSSite = "T2_CH_CERN"\n')
    exit_file = sched.pool.exit_dir / f"{job.job_id}.exit"
    ready = tmp_path / "ready"
    os.mkfifo(ready)
    proc = subprocess.Popen(["/bin/sh", str(wrapper_path()), str(exit_file),
                             "/bin/sh", "-c", 'echo up > "$0"; exec sleep 60', str(ready)])
    try:
        # The job runs (its wrapper's arguments are in /proc only once exec has set them up, a moment
        # after Popen returns): the read blocks until the job writes.
        assert ready.read_text() == "up\n"
        # no ``<job>.pid`` link: the daemon died just after starting the wrapper
        assert _pid_file(sched, job) == (proc.pid, "T2_CH_CERN")
    finally:
        proc.kill()
        proc.wait()
    # the wrapper is gone and left no exit file (killed): the job is lost, so it is queued again
    assert _pid_file(sched, job) == (None, "")


def test_a_job_that_ended_while_unrecorded_is_read_from_its_exit_file(tmp_path: Path) -> None:
    sched = _sched(tmp_path)
    job = _job(8, tmp_path)
    exit_file = sched.pool.exit_dir / f"{job.job_id}.exit"
    subprocess.run(["/bin/sh", str(wrapper_path()), str(exit_file), "sh", "-c", "exit 3"], check=False)
    assert exit_file.read_text().strip() == "3"
    assert _pid_file(sched, job) == (0, "")  # adopted: the adoption reads the status from the file


def test_a_finished_jobs_files_stay_until_its_end_is_logged(tmp_path: Path) -> None:
    pool = Pool([Slot("T2_CH_CERN", 4, 4000, 4, 4000)], Reaper(), tmp_path / "spool")
    job = _job(9, tmp_path)
    exit_file = pool.exit_dir / f"{job.job_id}.exit"
    pid_link = pool.exit_dir / f"{job.job_id}.pid"
    exit_file.write_text("0\n")
    pid_link.symlink_to("12345 T2_CH_CERN")
    seen: list[tuple[bool, bool]] = []
    job.on_exit = lambda _job, _result: seen.append((exit_file.exists(), pid_link.is_symlink()))
    pool._finish(job, JobExit(0))
    assert seen == [(True, True)]  # the end was logged while recovery could still have found the job
    assert not exit_file.exists() and not pid_link.is_symlink()
