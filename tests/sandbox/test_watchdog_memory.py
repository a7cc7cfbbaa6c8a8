"""The wrapper's memory watchdog reads the step tree cheaply (test-speed.md, H7).

``tree_pids`` follows ``/proc/<pid>/task/*/children`` from the payload's pid; it must find what a scan
of every process's parent would.  The watchdog reads PSS (``smaps_rollup``, costly) only when the tree's
RSS is above half the limit: PSS <= RSS, so the skipped polls could not have counted as strikes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from wms2.sandbox import steps
from wms2.sandbox.memory import tree_memory_mb, tree_pids, tree_rss_mb

#: A parent holding 60 MB that forks two children (sharing its pages) and sleeps.
FORKING = (
    "import os, time\n"
    "block = bytearray(60 * 2**20)\n"
    "for _ in range(2):\n"
    "    if os.fork() == 0:\n"
    "        time.sleep(30)\n"
    "        os._exit(0)\n"
    "print('ready', flush=True)\n"
    "time.sleep(30)\n"
)


def _descendants_by_scan(root: int) -> set[int]:
    """Reference: every process of /proc whose parent chain reaches ``root``."""
    parent: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as handle:
                    parent[int(name)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, todo = {root}, [root]
    while todo:
        current = todo.pop()
        children = {pid for pid, ppid in parent.items() if ppid == current}
        todo.extend(children - found)
        found |= children
    return found


@pytest.fixture
def forking_tree():
    proc = subprocess.Popen([sys.executable, "-c", FORKING], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    try:
        yield proc
    finally:
        for pid in tree_pids(proc.pid)[::-1]:
            os.kill(pid, 9)
        proc.wait()


def test_tree_pids_finds_what_a_full_scan_finds(forking_tree: subprocess.Popen) -> None:
    pids = tree_pids(forking_tree.pid)
    assert len(pids) == 3 and pids[0] == forking_tree.pid
    assert set(pids) == _descendants_by_scan(forking_tree.pid)


def test_tree_of_a_finished_process_is_only_its_pid() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert tree_pids(proc.pid) == [proc.pid]
    assert tree_rss_mb(proc.pid) == 0.0


def test_rss_bounds_pss_from_above(forking_tree: subprocess.Popen) -> None:
    """The shared 60 MB count three times in RSS, once in PSS: the pre-check never hides an excess."""
    rss, pss = tree_rss_mb(forking_tree.pid), tree_memory_mb(forking_tree.pid)
    assert rss >= pss > 60
    assert rss > 2 * 60


def test_watchdog_skips_pss_far_below_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pss(pid: int) -> float:
        raise AssertionError("PSS read although RSS is far below the limit")

    monkeypatch.setattr(steps, "tree_memory_mb", no_pss)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.2)"])
    assert steps._watch_memory(proc, 100_000.0) is None and proc.returncode == 0


def test_watchdog_reads_pss_near_the_limit_and_spares_a_step_under_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """RSS above half the limit: the PSS decides, and a step under the limit is not killed."""
    readings: list[float] = []

    def pss(pid: int) -> float:
        readings.append(tree_memory_mb(pid))
        return readings[-1]

    monkeypatch.setattr(steps, "tree_memory_mb", pss)
    hog = "import time; b = bytearray(100 * 2**20); time.sleep(1.6)"
    proc = subprocess.Popen([sys.executable, "-c", hog])
    t0 = time.monotonic()
    assert steps._watch_memory(proc, 180.0) is None and proc.returncode == 0
    assert readings and all(r < 180 for r in readings), readings
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("use_pidfd", [True, False])
def test_waiting_for_the_step_with_and_without_a_pidfd(use_pidfd: bool) -> None:
    """``select`` on a pidfd, or ``Popen.wait`` where the kernel has none: the same answers."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys, time; time.sleep(0.6); sys.exit(3)"])
    pidfd = steps._pidfd(proc.pid) if use_pidfd else None
    assert (pidfd is not None) == use_pidfd
    try:
        t0 = time.monotonic()
        assert not steps._ended(proc, pidfd, 0.05) and proc.returncode is None
        assert time.monotonic() - t0 >= 0.04
        while not steps._ended(proc, pidfd, 0.5):
            pass
        assert proc.returncode == 3
    finally:
        if pidfd is not None:
            os.close(pidfd)


def test_watchdog_cpu_while_a_step_runs_is_small() -> None:
    """The wait sleeps in the kernel and a tree far below the limit costs no smaps read: a 2 s step of
    110 MB costs the watchdog about 1.5 ms of CPU (10 ms with ``Popen.wait`` polling and a PSS read per
    poll, measured side by side)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(100 * 2**20); time.sleep(2)"])
    before = time.process_time()
    assert steps._watch_memory(proc, 1000.0) is None
    assert time.process_time() - before < 0.005
