"""The fault harness (issue 15 item 3), shared by ``tests/reliability`` and ``bench/chaos.py``.

One *run*: a private PostgreSQL cluster, a WMS2 home whose submit directory is its own small tmpfs, a
few small simulator requests, two real ``wms2 run`` processes (an owner and a ``--standby``) with the
local engine; once the first request is active, every fault kind of ``faults.FAULT_KINDS`` is injected
once, in a seeded random order with seeded random gaps; then the run waits until every request is in a
defined end state and counts lost requests, duplicate DAG submissions (from the pool's spool) and
duplicate registrations (from the catalog tables).  ``run_chaos`` does several runs and sums them.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from tests.reliability import checks
from tests.reliability.faults import FAULT_KINDS, inject, mount_tmpfs, unmount
from tests.reliability.pgcluster import APP_ROLE, PrivatePostgres

T = TypeVar("T")
WMS2 = [sys.executable, "-m", "wms2.cli"]
POLL_S = 0.2  # how often the harness looks at the database / processes
START_S = 240.0  # interpreter start-up of a `wms2` process on a loaded 2-core machine
SUBMIT_TMPFS_MB = 64  # the submit directory's own file system (the disk_full fault fills it)
GAP_S = (2.0, 6.0)  # between two faults, uniform (seeded)
EVENTS_PER_JOB = 500
JOBS_PER_WU = 2

# The lifecycle as a test runs it: short cycles, leases and back-offs, so faults heal in seconds.
RUN_SETTINGS: dict[str, dict[str, Any]] = {
    # the status reader (on by default in production) reads even a batch of one DAG, so the faults hit it too
    "lifecycle": {"cycle_seconds": 0.5, "status_reader_min_dags": 1},
    "planning": {"jobs_per_work_unit": JOBS_PER_WU, "first_round_work_units": 1, "work_units_per_round": 2},
    "output": {"retry_backoff_s": [1.0, 2.0, 4.0, 8.0]},
    # the pool keeper plays condor_master for the local pools (opt-in; off, a killed pool only alerts)
    "engine": {"server_poll_s": 0.05, "restart_dead_pools": True},
}
PROCESS_ENV = {"WMS2_OWNERSHIP__LEASE_SECONDS": "3", "WMS2_OWNERSHIP__RENEW_SECONDS": "0.5",
               "WMS2_OWNERSHIP__STANDBY_POLL_SECONDS": "0.2", "WMS2_OWNERSHIP__DB_RETRY_BASE_S": "0.2",
               "WMS2_OWNERSHIP__DB_RETRY_MAX_S": "2"}


@dataclass
class RunConfig:
    requests: int = 2
    events: int = 2000  # per request: 4 jobs of 500 events, 2 WUs of 2 jobs
    finish_s: float = 900.0  # after the last fault, how long the requests may take to end


class Procs:
    """The run's `wms2 run` processes (own session each, own log); the harness keeps one stand-by."""

    def __init__(self, logs: Path, env: dict[str, str], home: Path) -> None:
        self.logs, self.env, self.home = logs, env, home
        self.live: list[subprocess.Popen[bytes]] = []
        self.exited: list[tuple[int, int | None]] = []  # (pid, code) seen by the harness
        self.expected: set[int] = set()
        self.count = 0

    def start(self, standby: bool) -> subprocess.Popen[bytes]:
        self.count += 1
        name = f"{'standby' if standby else 'owner'}-{self.count}"
        log = (self.logs / f"{name}.log").open("wb")
        args = [*WMS2, "run", "--home", str(self.home), *(["--standby"] if standby else [])]
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        proc.log_path = self.logs / f"{name}.log"  # type: ignore[attr-defined]
        self.live.append(proc)
        return proc

    def start_standby(self) -> subprocess.Popen[bytes]:
        return self.start(standby=True)

    def by_pid(self, pid: int) -> subprocess.Popen[bytes] | None:
        return next((p for p in self.live if p.pid == pid and p.poll() is None), None)

    def expected_exit(self, proc: subprocess.Popen[bytes]) -> None:
        self.expected.add(proc.pid)

    def reap(self) -> list[str]:
        """Processes that ended without the harness killing them: one line each (with the log's tail)."""
        out = []
        for proc in list(self.live):
            code = proc.poll()
            if code is None:
                continue
            self.live.remove(proc)
            self.exited.append((proc.pid, code))
            if proc.pid not in self.expected:
                tail = proc.log_path.read_text(errors="replace").strip().splitlines()[-3:]  # type: ignore[attr-defined]
                out.append(f"wms2 run pid {proc.pid} exited with {code}: {' | '.join(tail)}")
        return out

    def stop_all(self) -> None:
        for proc in self.live:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.live:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


class ChaosRun:
    def __init__(self, index: int, seed: int, config: RunConfig, say: Callable[[str], None]) -> None:
        self.index, self.seed, self.config, self.say = index, seed, config, say
        self.rng = random.Random(seed)
        self.root = Path(tempfile.mkdtemp(prefix=f"wms2-chaos-{index}-"))
        self.home = self.root / "home"
        self.app_role = APP_ROLE
        self.pg = PrivatePostgres()
        self.submit_mounted = False
        self.incidents: list[str] = []  # the harness's own expectations broken (a process died, ...)
        self.findings: list[str] = []  # a fault WMS2 did not heal by itself (see reliability.md)
        self.faults: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.keep_standby = False  # from when the first owner and stand-by are started

    # -- set-up --------------------------------------------------------------------------------
    def setup(self) -> None:
        from wms2.config import load_settings
        from wms2.core.demo import demo_settings
        from wms2.core.service import init_home

        self.pg.initdb()
        self.pg.start()
        self.pg.create_app_database()
        self.home.mkdir(parents=True)
        self.submit_mounted = mount_tmpfs(self.home / "submit", SUBMIT_TMPFS_MB)
        demo_settings(self.home, RUN_SETTINGS)
        self.settings = load_settings(self.home, database_url=self.pg.url())
        self.db = init_home(self.settings)
        env = {k: v for k, v in os.environ.items() if not k.startswith("WMS2_")}
        env.update(PROCESS_ENV, WMS2_HOME=str(self.home), WMS2_DATABASE_URL=self.pg.url())
        (self.root / "logs").mkdir()
        self.procs = Procs(self.root / "logs", env, self.home)
        self.expected = self._submit()

    def _submit(self, wave: int = 0) -> dict[str, int]:
        from tests.reliability.requests import chaos_requests
        from wms2.core.workflow_manager import submit_documents

        docs = chaos_requests(self.index, wave, self.config.requests, self.config.events, EVENTS_PER_JOB)
        with self.db.session() as s:
            submit_documents(s, [(d["RequestName"], d) for d in docs], self.settings, by="chaos")
        return {d["RequestName"]: self.config.events for d in docs}

    # -- observation ---------------------------------------------------------------------------
    def lease(self) -> Any:
        from wms2.core.ownership import read_lease

        try:
            return read_lease(self.db)
        except SQLAlchemyError:
            return None

    def statuses(self) -> dict[str, str]:
        try:
            with self.pg.admin().connect() as conn:
                return {r.name: str(r.status) for r in conn.execute(text("SELECT name, status FROM requests"))}
        except SQLAlchemyError:
            return {}

    def wait_for(self, condition: Callable[[], T], timeout: float) -> T | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.supervise()
            value = condition()
            if value:
                return value
            time.sleep(POLL_S)
        return None

    def supervise(self) -> None:
        """A `wms2 run` that died on its own is an incident; a stand-by always waits behind the owner."""
        for line in self.procs.reap():
            self.incident(line)
        if self.keep_standby and len([p for p in self.procs.live if p.poll() is None]) < 2:
            self.procs.start_standby()

    def incident(self, line: str) -> None:
        self.incidents.append(line)
        self.say(f"run {self.index}: INCIDENT {line}")

    def finding(self, line: str) -> None:
        self.findings.append(line)
        self.say(f"run {self.index}: FINDING {line}")

    def operator(self, *args: str) -> None:
        """A `wms2` command as an operator types it (its failure is an incident)."""
        done = subprocess.run([*WMS2, *args, "--home", str(self.home)], env=self.procs.env, capture_output=True,
                              text=True, timeout=START_S)
        if done.returncode != 0:
            self.incident(f"wms2 {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-300:]}")

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    # -- the run -------------------------------------------------------------------------------
    def execute(self) -> dict[str, Any]:
        owner = self.procs.start_standby()  # HA deployments run every process with --standby
        if not self.wait_for(lambda: owner.poll() is not None or ((i := self.lease()) is not None
                                                                  and i.pid == owner.pid), START_S):
            self.incident(f"the first owner never took the lease: {owner.log_path.read_text()[-400:]}")  # type: ignore[attr-defined]
        self.procs.start_standby()
        self.keep_standby = True
        active = self.wait_for(lambda: "active" in self.statuses().values(), START_S)
        self.say(f"run {self.index}: owner {owner.pid}, first request active after {self.elapsed():.0f} s"
                 if active else f"run {self.index}: no request active after {self.elapsed():.0f} s")
        for kind in self.rng.sample(FAULT_KINDS, len(FAULT_KINDS)):
            gap = self.rng.uniform(*GAP_S)
            self.wait_for(lambda: False, gap)
            if self._all_defined():  # every fault meets work in progress: a new wave of requests
                self.expected.update(self._submit(wave=len(self.expected) // self.config.requests))
                self.wait_for(lambda: not self._all_defined() and "active" in self._status_counts(), START_S)
            at = self.elapsed()
            detail = inject(self, kind, self.rng)
            self.faults.append({"kind": kind, "at_s": round(at, 1), **detail})
            self.say(f"run {self.index}: t={at:5.1f}s {kind} {detail} statuses={self._status_counts()}")
        done = self.wait_for(lambda: self._all_defined(), self.config.finish_s)
        self.say(f"run {self.index}: {len(self.expected)} requests {'ended' if done else 'NOT ended'} after "
                 f"{self.elapsed():.0f} s: {self._status_counts()}")
        return self.collect()

    def _all_defined(self) -> bool:
        statuses = self.statuses()
        return bool(statuses) and all(statuses.get(n) in checks.DEFINED_END for n in self.expected)

    def _status_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for status in self.statuses().values():
            out[status] = out.get(status, 0) + 1
        return out

    def collect(self) -> dict[str, Any]:
        self.procs.stop_all()
        from wms2.engines.local_engine import stop_pool

        stop_pool(self.settings)
        admin = self.pg.admin()
        outcomes, datasets = checks.request_outcomes(admin, self.expected)
        catalog = checks.catalog_counts(admin, datasets)
        checks.attach_events(outcomes, catalog)
        engine = checks.engine_counts(self.settings.pool_dir)
        return {
            "run": self.index, "seed": self.seed, "seconds": round(self.elapsed(), 1),
            "faults": self.faults,
            "requests": {o.name: {"status": o.status, "reason": o.reason[:160]} for o in outcomes},
            "lost_requests": sum(not o.defined for o in outcomes),
            "lost_events": sum(o.lost_events for o in outcomes),
            "duplicate_submissions": engine.duplicate_submissions,
            "duplicate_registrations": catalog.duplicate_registrations,
            "dag_submissions": engine.top_level_submissions, "catalog_files": catalog.files,
            "duplicates": engine.duplicates + catalog.duplicates,
            "incidents": self.incidents, "findings": self.findings,
            "log_summary": checks.log_summary([self.home / "logs" / "wms2.log", self.settings.pool_dir / "daemon.log",
                                               *self.root.glob("logs/*.log")]),
        }

    def close(self, keep: bool) -> None:
        with contextlib.suppress(Exception):
            self.procs.stop_all()
        with contextlib.suppress(AttributeError):
            self.db.dispose()
        _kill_strays(self.root)
        if self.submit_mounted:
            if keep:  # the tmpfs goes with the unmount: keep a copy of the DAGs' own files
                shutil.copytree(self.home / "submit", self.root / "submit-copy", dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns(".chaos-filler"))
            unmount(self.home / "submit")
        self.pg.destroy()
        if keep:
            self.say(f"run {self.index}: kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def _kill_strays(root: Path) -> None:
    """Jobs, scripts or a pool daemon still working under this run's directory: ours by construction."""
    from wms2.engines.local_engine import stop_pool

    with contextlib.suppress(Exception):
        from wms2.config import load_settings

        stop_pool(load_settings(root / "home"))
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        with contextlib.suppress(OSError):
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes()
            if cwd.startswith(str(root)) or str(root).encode() in cmdline:
                os.kill(int(entry.name), signal.SIGKILL)


def run_one(index: int, seed: int, config: RunConfig, say: Callable[[str], None], keep: bool = False) -> dict[str, Any]:
    run = ChaosRun(index, seed, config, say)
    failed = True
    try:
        run.setup()
        result = run.execute()
        failed = bool(result["lost_requests"] or result["duplicate_submissions"] or result["duplicate_registrations"])
        return result
    finally:
        run.close(keep=keep or failed)


def summarise(results: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    injected: dict[str, int] = {k: 0 for k in FAULT_KINDS}
    skipped: dict[str, int] = {k: 0 for k in FAULT_KINDS}
    statuses: dict[str, int] = {}
    for r in results:
        for f in r["faults"]:
            (skipped if "skipped" in f else injected)[f["kind"]] += 1
        for req in r["requests"].values():
            statuses[req["status"]] = statuses.get(req["status"], 0) + 1
    return {
        "runs": len(results), "seed": seed,
        "lost_requests": sum(r["lost_requests"] for r in results),
        "duplicate_submissions": sum(r["duplicate_submissions"] for r in results),
        "duplicate_registrations": sum(r["duplicate_registrations"] for r in results),
        "lost_events": sum(r["lost_events"] for r in results),
        "faults_injected": injected, "faults_skipped": {k: v for k, v in skipped.items() if v},
        "faults_per_run": [[f["kind"] for f in r["faults"] if "skipped" not in f] for r in results],
        "requests_by_status": statuses,
        "incidents": sum(len(r["incidents"]) for r in results),
        "findings": sorted({f.split(":")[0] for r in results for f in r["findings"]}),
        "seconds": round(sum(r["seconds"] for r in results), 1),
    }


def run_chaos(runs: int, seed: int, config: RunConfig | None = None,
              say: Callable[[str], None] = print, keep: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``runs`` runs with seeds derived from ``seed``; returns (the summary, each run's result)."""
    config = config or RunConfig()
    master = random.Random(seed)
    results = []
    for index in range(1, runs + 1):
        run_seed = master.randrange(2**31)
        say(f"run {index}/{runs}: seed {run_seed}")
        result = run_one(index, run_seed, config, say, keep)
        results.append(result)
        say(f"run {index}/{runs}: lost {result['lost_requests']}, duplicate submissions "
            f"{result['duplicate_submissions']}, duplicate registrations {result['duplicate_registrations']}, "
            f"lost events {result['lost_events']}, incidents {len(result['incidents'])}, {result['seconds']:.0f} s")
    return summarise(results, seed), results
