"""CPU of one end-to-end demo scenario, split by process kind (test-speed.md, "E2E CPU by process kind").

Method (Linux, root):
- The run is started in its own ``cpuacct`` cgroup (v1, or a v2 group), whose usage counts the whole
  process tree, including the detached pool daemon: that is the exact total.
- BSD process accounting (``acct(2)``, format v3) is switched on for the run.  The kernel writes one record
  per process at its exit, with its pid, parent pid, start time and user + system CPU of all its threads
  (in 1/100 s, truncated).  This needs no change in the code measured.
- A sampler thread lists the cgroup's processes every ``--sample-ms`` and reads each new process's
  ``/proc/PID/cmdline`` (again while it is a shell, which may ``exec`` Python), to name its kind.  This
  process is a child subreaper, so the detached daemon stays in the tree of parent pids.
- Each accounting record of the tree is joined with its command line by (pid, start time) and
  classified: driver (``wms2 demo``), pool daemon, PRE, POST, landing, wrapper (processing job),
  simulator, merge, cleanup, job shell (``jobwrap.sh``) and other.

The driver is, by default (``--driver api``), ``run_demo()`` called as the e2e fixtures call it (no progress
callback), with its lifecycle cycles counted; ``--driver cli`` runs ``wms2 demo --json``.

Usage: ``python bench/e2e_cpu_split.py --scenario held|faults [--driver api|cli] [--home DIR] [--timeout S]``.
Prints a table and one JSON object on its last line.  Process accounting is system wide: do not run two
at once.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ACCT_V3 = struct.Struct("<ccHIIIIIIf8H16s")  # struct acct_v3 (include/uapi/linux/acct.h), 64 bytes
AHZ = 100  # acct's time unit: USER_HZ ticks
PR_SET_CHILD_SUBREAPER = 36  # prctl(2)
CG_V1 = Path("/sys/fs/cgroup/cpuacct")
CG_V2 = Path("/sys/fs/cgroup")
SUBCOMMAND_KIND = {"pre": "PRE", "post": "POST", "land": "landing", "run": "wrapper", "merge": "merge",
                   "cleanup": "cleanup"}
SHELLS = {"sh", "dash", "bash", "jobwrap.sh", "cmsrun.sh", "wms2-job"}
API_DRIVER = ("import json, sys; from pathlib import Path; from wms2.core.demo import run_demo; "
              "from wms2.core.lifecycle import LifecycleManager as M; n = []; f = M.run_cycle; "
              "M.run_cycle = lambda self: (n.append(1), f(self))[1]; "  # counts the lifecycle cycles
              "r = run_demo(Path(sys.argv[1]), reset=True, timeout_s=float(sys.argv[3]), scenario=sys.argv[2]); "
              "print(json.dumps({'ok': r.ok, 'seconds': r.seconds, 'cycles': len(n), 'requests': r.requests}))")
KINDS = ("driver", "pool daemon", "PRE", "POST", "landing", "wrapper", "simulator", "merge", "cleanup",
         "job shell", "other")


@dataclass
class Record:
    pid: int
    ppid: int
    btime: int
    cpu_s: float
    comm: str


@dataclass
class Seen:
    start_epoch: float
    comm: str
    cmdline: list[str] = field(default_factory=list)
    final: bool = False


def _comp_t(value: int) -> int:
    """comp_t: 13-bit mantissa, 3-bit base-8 exponent."""
    return (value & 0x1FFF) << (3 * ((value >> 13) & 7))


def read_acct(path: Path) -> list[Record]:
    data = path.read_bytes()
    out = []
    for off in range(0, len(data) - ACCT_V3.size + 1, ACCT_V3.size):
        f = ACCT_V3.unpack_from(data, off)
        if f[1] != b"\x03":
            raise ValueError(f"{path}: record at {off} is not acct v3")
        out.append(Record(pid=f[6], ppid=f[7], btime=f[8], cpu_s=(_comp_t(f[10]) + _comp_t(f[11])) / AHZ,
                          comm=f[-1].rstrip(b"\0").decode(errors="replace")))
    return out


class Cgroup:
    def __init__(self, name: str) -> None:
        self.v1 = CG_V1.is_dir()
        self.path = (CG_V1 if self.v1 else CG_V2) / name
        self.path.mkdir()

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def cpu_s(self) -> float:
        if self.v1:
            return int((self.path / "cpuacct.usage").read_text()) / 1e9
        stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
        return int(stat["usage_usec"]) / 1e6

    def remove(self) -> None:
        self.path.rmdir()


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise RuntimeError("/proc/stat has no btime")


class Sampler(threading.Thread):
    """Names the processes of the cgroup while they live; reaps orphans (this process is a subreaper)."""

    def __init__(self, cgroup: Cgroup, period_s: float, child: int) -> None:
        super().__init__(daemon=True)
        self.cgroup, self.period_s, self.child = cgroup, period_s, child
        self.seen: dict[tuple[int, int], Seen] = {}
        self.child_status: int | None = None
        self.stop = threading.Event()
        self._boot, self._tck = _boot_time(), os.sysconf("SC_CLK_TCK")

    def _look(self, pid: int) -> None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            comm = stat.split("(", 1)[1].rsplit(")", 1)[0]
            start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
            entry = self.seen.get((pid, start_ticks))
            if entry is not None and entry.comm == comm and entry.final:
                return  # a job script or the simulator: it does not exec again
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return
        argv = [a.decode(errors="replace") for a in cmd if a]
        if entry is None:
            entry = self.seen[(pid, start_ticks)] = Seen(self._boot + start_ticks / self._tck, comm, argv)
        elif argv:
            entry.comm, entry.cmdline = comm, argv
        # A child forked by the daemon shows the daemon's command line until it execs (a shell script,
        # which may exec Python in turn, within one look): only a worker-node command line is final.
        entry.final = kind_of(argv, comm) not in ("pool daemon", "other")

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.child:
                self.child_status = os.waitstatus_to_exitcode(status)

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in self.cgroup.pids():
                self._look(pid)
            self._reap()
            time.sleep(self.period_s)
        self._reap()


def kind_of(argv: list[str], comm: str) -> str:
    """``comm`` is the accounting record's: the program the process ran last (a shell or python)."""
    text = " ".join(argv)
    if comm in SHELLS:
        return "job shell" if "jobwrap" in text else "other"
    if "wms2.engines.local.daemon" in text:
        return "pool daemon"
    if "wms2.sandbox.simulator" in text:
        return "simulator"
    for marker in ("wms2.sandbox.cli", "wms2-job"):
        if marker in text:
            after = text.split(marker, 1)[1].split()
            if after and after[0] in SUBCOMMAND_KIND:
                return SUBCOMMAND_KIND[after[0]]
    return "other"


def classify(records: list[Record], seen: dict[tuple[int, int], Seen], root: int, driver: int) -> dict[str, Any]:
    """Sum the accounting records of ``root``'s tree by kind."""
    by_pid: dict[int, list[Seen]] = {}
    for (pid, _), s in seen.items():
        by_pid.setdefault(pid, []).append(s)
    in_tree = {root}
    # Records are written at exit, so a parent's record comes after its children's: walk to a fixpoint.
    pending = list(records)
    changed = True
    tree: list[Record] = []
    while changed:
        changed = False
        rest = []
        for r in pending:
            if r.ppid in in_tree:
                in_tree.add(r.pid)
                tree.append(r)
                changed = True
            else:
                rest.append(r)
        pending = rest
    totals: dict[str, dict[str, Any]] = {k: {"processes": 0, "cpu_s": 0.0} for k in KINDS}
    unnamed = 0
    others: dict[str, float] = {}
    for r in tree:
        match = [s for s in by_pid.get(r.pid, []) if abs(s.start_epoch - r.btime) <= 2]
        argv = match[-1].cmdline if match else []
        unnamed += not match
        kind = "driver" if r.pid == driver else kind_of(argv, r.comm)
        if kind == "other":
            label = f"{r.comm}: {' '.join(argv[:3])[:80]}"
            others[label] = round(others.get(label, 0.0) + r.cpu_s, 2)
        comms = totals[kind].setdefault("comms", {})
        comms[r.comm] = comms.get(r.comm, 0) + 1
        totals[kind]["processes"] += 1
        totals[kind]["cpu_s"] += r.cpu_s
    for t in totals.values():
        t["cpu_s"] = round(t["cpu_s"], 2)
    result: dict[str, Any] = dict(totals)
    result["_unnamed_processes"] = unnamed
    result["_other_comms"] = others
    return result


def run(scenario: str, home: Path, timeout: float, sample_s: float, driver: str, extra: list[str]) -> dict:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    cgroup = Cgroup(f"e2e_cpu_split_{os.getpid()}")
    acct_file = Path(tempfile.mkstemp(prefix="e2e_cpu_split.", suffix=".acct")[1])
    if libc.acct(str(acct_file).encode()) != 0:
        raise OSError(ctypes.get_errno(), "acct(2): process accounting needs root (CAP_SYS_PACCT)")
    if driver == "cli":
        cmd = [str(ROOT / ".venv" / "bin" / "wms2"), "demo", "--home", str(home), "--scenario", scenario,
               "--timeout", str(timeout), "--json", *extra]
    else:  # as the e2e tests' fixtures call it: run_demo without a progress callback
        cmd = [str(ROOT / ".venv" / "bin" / "python"), "-c", API_DRIVER, str(home), scenario, str(timeout)]
    started = time.monotonic()
    try:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: join the cgroup, wait for the sampler, exec the demo
            os.close(w)
            cgroup.add(os.getpid())
            os.read(r, 1)
            out = os.open(str(home.parent / f"{home.name}.demo.json"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            err = os.open(str(home.parent / f"{home.name}.demo.err"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(out, 1)
            os.dup2(err, 2)
            os.execv(cmd[0], cmd)
        os.close(r)
        sampler = Sampler(cgroup, sample_s, pid)
        sampler.start()
        os.write(w, b"x")
        os.close(w)
        while sampler.child_status is None:
            time.sleep(0.2)
        wall = time.monotonic() - started
        deadline = time.monotonic() + 60  # the demo stops its pool; wait for the daemon and its children
        while cgroup.pids() and time.monotonic() < deadline:
            time.sleep(0.2)
        leftover = cgroup.pids()
        sampler.stop.set()
        sampler.join()
    finally:
        libc.acct(None)
    total = cgroup.cpu_s()
    demo_out = home.parent / f"{home.name}.demo.json"
    lines = demo_out.read_text().strip().splitlines() if demo_out.is_file() else []
    cycles = None
    if driver == "api" and lines and lines[-1].startswith("{"):
        cycles = json.loads(lines[-1]).get("cycles")
    records = read_acct(acct_file)
    acct_file.unlink()
    if not leftover:
        cgroup.remove()
    split = classify(records, sampler.seen, os.getpid(), pid)
    counted = sum(split[k]["cpu_s"] for k in KINDS)
    return {"scenario": scenario, "driver": driver, "exit": sampler.child_status, "wall_s": round(wall, 1),
            "cycles": cycles, "cgroup_cpu_s": round(total, 2), "acct_cpu_s": round(counted, 2),
            "acct_truncation_s": round(total - counted, 2), "leftover_pids": leftover, "by_kind": split}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="held")
    ap.add_argument("--home", type=Path, default=None, help="demo home (default: a new temporary directory)")
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--sample-ms", type=float, default=20.0)
    ap.add_argument("--driver", choices=("api", "cli"), default="api",
                    help="api: run_demo() as the e2e fixtures call it (default); cli: `wms2 demo --json`")
    args, extra = ap.parse_known_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="e2e_cpu_split.")) / "home"
    home.parent.mkdir(parents=True, exist_ok=True)
    result = run(args.scenario, home.absolute(), args.timeout, args.sample_ms / 1000, args.driver, extra)
    result["bench_self_cpu_s"] = round(sum(os.times()[:2]), 2)
    print(f"{'kind':<14}{'procs':>7}{'CPU s':>10}{'CPU s/proc':>12}", file=sys.stderr)
    for kind in KINDS:
        row = result["by_kind"][kind]
        per = row["cpu_s"] / row["processes"] if row["processes"] else 0.0
        print(f"{kind:<14}{row['processes']:>7}{row['cpu_s']:>10.2f}{per:>12.3f}", file=sys.stderr)
    print(json.dumps(result))
    return 0 if result["exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
