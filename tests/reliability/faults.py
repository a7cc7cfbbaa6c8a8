"""The faults a chaos run injects, each real (no fake in ``src/``); what heals each one:

- ``owner_kill``: SIGKILL of the lease holder's process group; a stand-by takes over (the harness then
  starts a new stand-by, so one always waits).
- ``postgres_restart``: ``pg_ctl stop -m immediate`` of the private cluster (every backend killed), down
  1-3 s, then start with crash recovery; WMS2 reconnects and retries.
- ``pool_kill``: SIGKILL of the local pool daemon (the schedd stand-in); the pool keeper
  (``engine.restart_dead_pools``, on in the harness: HTCondor's ``condor_master`` restarts a schedd)
  starts it again and it recovers its DAGs from its spool; when that does not happen within 30 s, that
  is a finding and the harness runs ``wms2 pool start`` as an operator would.
- ``status_corrupt``: a running DAG's NODE_STATUS_FILE truncated in place (no rename), and torn again
  after every rewrite for 1-3 s: a writer that keeps dying mid-write; the pool's next good write heals it.
- ``disk_full``: at the end of a DAG (so the next round is planned onto it, when one comes within 30 s)
  the submit directory's own tmpfs is filled to the last byte for 4-8 s, then freed.
- ``catalog_refuse``: ``REVOKE INSERT, UPDATE, DELETE`` on the catalog and rule tables from the role WMS2
  connects as, until the server logged a refusal of a WMS2 write (then 2 s more), then ``GRANT``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wms2.engines.local.daemon import PID_FILE
from wms2.engines.local.records import RECORDS_DIR
from wms2.planning.render.dag import STATUS_FILE

if TYPE_CHECKING:
    from tests.reliability.harness import ChaosRun

FAULT_KINDS = ("owner_kill", "postgres_restart", "pool_kill", "status_corrupt", "disk_full", "catalog_refuse")
CATALOG_TABLES_SQL = ("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                      "AND (tablename LIKE 'catalog\\_%' OR tablename = 'local_rules')")
RECOVERY_WAIT_S = 120.0  # how long the harness waits to see a takeover (a loaded 2-core machine)
AT_SUBMIT_SHARE = 0.5
SUBMIT_WAIT_S = 30.0  # how long an at-submit kill waits for the next DAG submission
SUBMIT_POLL_S = 0.01
POOL_RESTART_WAIT_S = 30.0  # WMS2 cycles every 0.5 s here: a restart of its pool daemon comes well within
DOWN_S = (1.0, 3.0)  # PostgreSQL down: uniform in this range (seeded)
FULL_S = (4.0, 8.0)  # disk full: several pool status writes (every 1 s) and lifecycle cycles (0.5 s)
TORN_S = (1.0, 3.0)  # the status file is torn again after each rewrite for this long
TORN_EVERY_S = 0.05
REFUSE_MAX_S = 60.0  # the catalog refuses until WMS2 met a refusal (server log), at most this long
REFUSE_AFTER_S = 2.0  # and this long after the first refusal (the Output Manager's retry meets it too)
FILL_CHUNK = 1 << 20
DENIED = "permission denied for table"


@dataclass
class Injected:
    kind: str
    at_s: float
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "at_s": round(self.at_s, 1), **self.detail}


def inject(run: ChaosRun, kind: str, rng: random.Random) -> dict[str, Any]:
    return FAULTS[kind](run, rng)


def owner_kill(run: ChaosRun, rng: random.Random) -> dict[str, Any]:
    """Half the time (seeded) the kill waits for a DAG submission and lands right after the pool accepted
    it: the window between the engine call and the owner's commit, where a duplicate submission would be
    born."""
    at_submit = rng.random() < AT_SUBMIT_SHARE and _kill_moment(run.settings.pool_dir)
    lease = run.lease()
    proc = run.procs.by_pid(lease.pid) if lease is not None else None
    if proc is None:
        return {"skipped": f"no owner process of ours holds the lease ({lease})"}
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    run.procs.expected_exit(proc)
    killed = time.monotonic()
    run.procs.start_standby()
    new = run.wait_for(lambda: (i := run.lease()) is not None and i.state == "live" and i.pid != proc.pid and i,
                       RECOVERY_WAIT_S)
    return {"killed_pid": proc.pid, "at_submit": at_submit,
            "takeover_s": round(time.monotonic() - killed, 1) if new else None,
            "new_owner_pid": new.pid if new else None}


def postgres_restart(run: ChaosRun, rng: random.Random) -> dict[str, Any]:
    down = rng.uniform(*DOWN_S)
    run.pg.crash_restart(down)
    return {"down_s": round(down, 1)}


def pool_kill(run: ChaosRun, rng: random.Random) -> dict[str, Any]:
    pid_file = run.settings.pool_dir / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return {"skipped": "no pool daemon pid file"}
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    back = run.wait_for(lambda: (n := _pool_pid(pid_file)) is not None and n != pid and _alive(n),
                        POOL_RESTART_WAIT_S)
    detail: dict[str, Any] = {"killed_pid": pid,
                              "restarted_by_wms2_s": round(time.monotonic() - killed, 1) if back else None}
    if not back and "active" not in run.statuses().values():
        run.operator("pool", "start")  # nothing to poll, so WMS2 had no reason to notice: not a finding
        detail["restarted_by"] = "wms2 pool start (harness; no active request)"
    elif not back:  # a finding: recorded, then restarted as an operator (or a condor_master) would
        run.finding(f"pool_kill: the local pool daemon {pid} was not restarted by WMS2 within "
                    f"{POOL_RESTART_WAIT_S:.0f} s (engine.restart_dead_pools is on); its DAGs stayed unpolled "
                    "(schedd_unreachable alerts) until `wms2 pool start` by the harness")
        run.operator("pool", "start")
        detail["restarted_by"] = "wms2 pool start (harness)"
    return detail


def status_corrupt(run: ChaosRun, rng: random.Random) -> dict[str, Any]:
    files = run.wait_for(lambda: _running_status_files(run.settings.pool_dir), RECOVERY_WAIT_S / 4) or []
    if not files:
        files = sorted(run.settings.submit_base.rglob(STATUS_FILE))
    if not files:
        return {"skipped": "no node status file"}
    target = rng.choice(sorted(files))
    torn_for = rng.uniform(*TORN_S)
    fraction = rng.uniform(0.1, 0.9)
    tears, size = 0, target.stat().st_size
    deadline = time.monotonic() + torn_for
    while time.monotonic() < deadline:  # each rewrite by the pool is torn again: a writer dying mid-write
        with contextlib.suppress(OSError):
            now = target.stat().st_size
            if now > int(size * fraction) or tears == 0:
                size = max(size, now)
                with target.open("r+b") as fh:  # in place, no rename
                    fh.truncate(int(now * fraction))
                tears += 1
        time.sleep(TORN_EVERY_S)
    return {"file": str(target.relative_to(run.settings.home)), "kept_fraction": round(fraction, 2),
            "torn_s": round(torn_for, 1), "tears": tears}


def disk_full(run: ChaosRun, rng: random.Random) -> dict[str, Any]:
    if not run.submit_mounted:
        return {"skipped": "the submit directory is not on its own small file system (mount refused)"}
    at_round_end = _round_end(run.settings.pool_dir)  # the next round is planned onto a full disk
    hold = rng.uniform(*FULL_S)
    filler = run.settings.submit_base / ".chaos-filler"
    written = 0
    try:
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for chunk in (FILL_CHUNK, 4096, 1):  # down to the last byte
                with contextlib.suppress(OSError):  # ENOSPC ends each pass: the file system is full
                    while True:
                        written += os.write(fd, b"\0" * chunk)
        finally:
            os.close(fd)
        stat = os.statvfs(run.settings.submit_base)
        time.sleep(hold)
    finally:
        filler.unlink(missing_ok=True)
    return {"at_round_end": at_round_end, "full_s": round(hold, 1), "filled_mb": written >> 20,
            "free_bytes_left": stat.f_bavail * stat.f_frsize}


def catalog_refuse(run: ChaosRun, rng: random.Random) -> dict[str, Any]:
    """Refused until WMS2 met the refusal (the server logs each one), then a little longer."""
    from sqlalchemy import text

    with run.pg.admin().connect() as conn:
        tables = [r[0] for r in conn.execute(text(CATALOG_TABLES_SQL))]
    names = ", ".join(f'"{t}"' for t in tables)
    before = run.pg.server_log().count(DENIED)
    run.pg.execute(f'REVOKE INSERT, UPDATE, DELETE ON {names} FROM "{run.app_role}"')
    started = time.monotonic()
    try:
        met = run.wait_for(lambda: run.pg.server_log().count(DENIED) > before, REFUSE_MAX_S)
        if met:
            run.wait_for(lambda: False, REFUSE_AFTER_S)
    finally:
        run.pg.execute(f'GRANT INSERT, UPDATE, DELETE ON {names} TO "{run.app_role}"')
    return {"refused_s": round(time.monotonic() - started, 1), "tables": len(tables),
            "refusals_met": run.pg.server_log().count(DENIED) - before}


FAULTS = {"owner_kill": owner_kill, "postgres_restart": postgres_restart, "pool_kill": pool_kill,
          "status_corrupt": status_corrupt, "disk_full": disk_full, "catalog_refuse": catalog_refuse}


def _top_level_clusters(pool_dir: Path) -> set[str]:
    out = set()
    for path in (pool_dir / RECORDS_DIR).glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text()).get("parent") is None:
                out.add(path.name)
    return out


def _ended_top_level(pool_dir: Path) -> set[str]:
    out = set()
    for path in (pool_dir / RECORDS_DIR).glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            rec = json.loads(path.read_text())
            if rec.get("parent") is None and rec.get("state") == "done":
                out.add(path.name)
    return out


def _round_end(pool_dir: Path) -> bool:
    """Wait (polling fast) until a top-level DAG ends; False after SUBMIT_WAIT_S."""
    known = _ended_top_level(pool_dir)
    deadline = time.monotonic() + SUBMIT_WAIT_S
    while time.monotonic() < deadline:
        if _ended_top_level(pool_dir) - known:
            return True
        time.sleep(SUBMIT_POLL_S * 5)
    return False


def _kill_moment(pool_dir: Path) -> bool:
    """Wait (polling fast) until the pool accepts a new top-level DAG; False after SUBMIT_WAIT_S."""
    known = _top_level_clusters(pool_dir)
    deadline = time.monotonic() + SUBMIT_WAIT_S
    while time.monotonic() < deadline:
        if _top_level_clusters(pool_dir) - known:
            return True
        time.sleep(SUBMIT_POLL_S)
    return False


def _pool_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    from wms2.procs import process_alive

    return process_alive(pid)


def _running_status_files(pool_dir: Path) -> list[Path]:
    out = []
    for path in (pool_dir / RECORDS_DIR).glob("*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            rec = json.loads(path.read_text())
            status = Path(rec["dag_file"]).parent / STATUS_FILE
            if rec.get("parent") is None and rec.get("state") == "running" and status.is_file():
                out.append(status)
    return out


def mount_tmpfs(path: Path, size_mb: int) -> bool:
    """A small tmpfs of its own under ``path`` (needs CAP_SYS_ADMIN); False when the container refuses."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(path)],
                          capture_output=True, text=True)
    return done.returncode == 0


def unmount(path: Path) -> None:
    done = subprocess.run(["umount", str(path)], capture_output=True, text=True)
    if done.returncode != 0:  # something still has a file open there: detach it now, freed when closed
        subprocess.run(["umount", "-l", str(path)], capture_output=True, text=True)
