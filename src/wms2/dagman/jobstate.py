"""Jobstate log (``JOBSTATE_LOG``, reference §4.4): Pegasus-style lines, appended, one event each:
``ts INTERNAL *** DAGMAN_STARTED c.p ***`` and ``ts <Node> <Event> <CondorID|-> <JobTag|-> - <seq>``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO


class JobstateLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def _write(self, line: str) -> None:
        if self._fh is None:
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
        self._fh.write(f"{int(time.time())} {line}\n")
        self._fh.flush()

    def internal(self, what: str) -> None:
        self._write(f"INTERNAL *** {what} ***")

    def node(self, node: str, event: str, condor_id: str | None = None, seq: int = 1) -> None:
        self._write(f"{node} {event} {condor_id or '-'} - - {seq}")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
