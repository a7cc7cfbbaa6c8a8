"""Resident-memory readings of this process and of process trees (Linux ``/proc``)."""

from __future__ import annotations

import resource
from pathlib import Path

_KB_PER_MB = 1024.0


def _status_kb(field: str, pid: int | str = "self") -> float | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return None


def current_rss_mb(pid: int | str = "self") -> float:
    value = _status_kb("VmRSS", pid)
    return (value or 0.0) / _KB_PER_MB


def peak_rss_mb() -> float:
    """High-water mark of this process's resident memory (``ru_maxrss`` is in kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / _KB_PER_MB


def peak_vsize_mb() -> float:
    value = _status_kb("VmPeak")
    return (value or 0.0) / _KB_PER_MB


def tree_rss_mb(pid: int) -> float:
    """RSS of ``pid`` and all its descendants (what a batch system's memory watchdog sees)."""
    total = 0.0
    todo = [pid]
    seen: set[int] = set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        total += current_rss_mb(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            children = []
        todo.extend(int(c) for c in children)
    return total
