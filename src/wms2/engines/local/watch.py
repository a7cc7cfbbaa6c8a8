"""A cheap view of the top-level DAG jobs of a local pool, for drivers that run the lifecycle themselves
(``wms2 demo``, the end-to-end tests): their next cycle is due as soon as a DAG job was submitted, held,
released or left the queue, not at the next tick of a fixed period.

It reads the daemon's spool, never the daemon: one ``stat`` of the records directory when nothing
changed, and only the records whose file changed otherwise (the daemon replaces a record file
atomically on every change).  Sub-DAG records (work units) are read but do not change the
signature, so the churn inside a round does not trigger cycles.  File times tick coarsely (a few
milliseconds), so a directory or record changed within ``RACY_NS`` is re-read on every call, as git
does for its index ("racy" timestamps): two changes within one tick are never mistaken for one.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from wms2.engines.local.records import RECORDS_DIR

RACY_NS = 100_000_000  # 0.1 s: well above the kernel's timestamp tick (1-10 ms)


@dataclass(frozen=True)
class _Seen:
    mtime_ns: int
    top_level: bool
    state: str


class DagStateWatch:
    def __init__(self, spool: Path) -> None:
        self.dir = spool / RECORDS_DIR
        self._dir_mtime: int | None = None
        self._files: dict[str, _Seen] = {}
        self._signature: frozenset[tuple[str, str]] = frozenset()

    def signature(self) -> frozenset[tuple[str, str]]:
        """``{(record file, state)}`` of the top-level DAG jobs; equal values mean nothing to act on."""
        try:
            mtime = self.dir.stat().st_mtime_ns
        except OSError:  # no pool yet (or it was deleted): nothing to watch
            return frozenset()
        if mtime == self._dir_mtime and not _racy(mtime):
            return self._signature
        self._dir_mtime = mtime
        seen: dict[str, _Seen] = {}
        with os.scandir(self.dir) as entries:
            for entry in entries:
                if entry.name.endswith(".json"):
                    record = self._read(entry)
                    if record is not None:
                        seen[entry.name] = record
        self._files = seen
        self._signature = frozenset((name, r.state) for name, r in seen.items() if r.top_level)
        return self._signature

    def _read(self, entry: os.DirEntry[str]) -> _Seen | None:
        try:
            mtime = entry.stat().st_mtime_ns
        except OSError:  # replaced or removed while we listed the directory
            return None
        old = self._files.get(entry.name)
        if old is not None and old.mtime_ns == mtime and not _racy(mtime):
            return old
        try:
            data = json.loads(Path(entry.path).read_text())
        except (OSError, ValueError):  # being replaced: the next change of the directory re-reads it
            return None
        return _Seen(mtime, data.get("parent") is None, str(data.get("state")))


def _racy(mtime_ns: int) -> bool:
    return time.time_ns() - mtime_ns < RACY_NS


class PoolsWatch:
    """:class:`DagStateWatch` over several pool spools (``engine.local_pools``): one signature for all."""

    def __init__(self, spools: list[Path]) -> None:
        self.watches = [DagStateWatch(spool) for spool in spools]

    def signature(self) -> tuple[frozenset[tuple[str, str]], ...]:
        return tuple(watch.signature() for watch in self.watches)
