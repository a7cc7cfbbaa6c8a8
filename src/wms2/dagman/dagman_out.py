"""``<dag>.dagman.out`` debug log (reference §4.3), always appended.  It carries the lines a service
may look for: the start banner, parse errors, ``Dag contains N total nodes``, submit lines, the
periodic count table, failed-node lists, rescue writes and the final ``EXITING WITH STATUS`` line."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import IO

from wms2.dagman.model import DagStatusCode

_TABLE_HEAD = ("   Done     Pre   Queued    Post   Ready   Un-Ready   Failed   Futile\n"
               "    ===     ===      ===     ===     ===        ===      ===      ===\n")


class DagmanOut:
    def __init__(self, path: Path, cluster: int) -> None:
        self.path = path
        self.cluster = cluster
        self._fh: IO[str] | None = None
        self.dropped = 0

    def log(self, message: str) -> None:
        """Append lines; a write that fails (a full disk) drops them, as DAGMan's own debug log does:
        the log must never stop the DAG it describes (``dropped`` counts the lost lines)."""
        stamp = time.strftime("%m/%d/%y %H:%M:%S")
        lines = message.splitlines() or [""]
        try:
            if self._fh is None:
                self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
            for line in lines:
                self._fh.write(f"{stamp} {line}\n")
            self._fh.flush()
        except OSError:
            self.dropped += len(lines)
            self.close()  # the buffer holds what could not be written; reopened at the next line

    def banner(self) -> None:
        self.log("******************************************************")
        self.log(f"** condor_scheduniv_exec.{self.cluster}.0 (CONDOR_DAGMAN) STARTING UP")
        self.log(f"** wms2 local DAGMan, pid {os.getpid()}")
        self.log("******************************************************")

    def table(self, total: int, counts: tuple[int, int, int, int, int, int, int, int],
              dag_status: DagStatusCode = DagStatusCode.OK) -> None:
        row = "".join(f"{v:>{w}}" for v, w in zip(counts, (7, 8, 9, 8, 8, 11, 9, 9), strict=True))
        self.log(f"DAG status: {int(dag_status)} (DAG_STATUS_{dag_status.name})")
        self.log(f"Of {total} nodes total:\n{_TABLE_HEAD}{row}")

    def failed_report(self, failures: list[tuple[str, str]]) -> None:
        """DAGMan's end-of-run report of the failed nodes (name and error of each)."""
        lines = ["ERROR: the following Node(s) failed:"]
        for name, error in failures:
            lines += ["---------------------- Node ----------------------", f"      Node Name: {name}",
                      "    Node Status: STATUS_ERROR", f"          Error: {error}"]
        lines.append("---------------------------------------\t<END>")
        self.log("\n".join(lines))

    def exiting(self, status: int) -> None:
        self.log(f"**** condor_scheduniv_exec.{self.cluster}.0 (condor_DAGMAN) pid {os.getpid()} "
                 f"EXITING WITH STATUS {status}")

    def close(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.close()
            except OSError:  # the buffered tail could not be flushed (a full disk): dropped
                self.dropped += 1
