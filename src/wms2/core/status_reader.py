"""The status-reader process: DAGMan's files read on the second core, pipelined with the database work.

The lifecycle's main process spends about 40 % of a steady cycle reading DAGMan's files (outer status
file, inner status files of running WUs, result files of newly completed WUs) and the rest on the
database; both are one thread's work under one GIL.  A :class:`StatusReader` owns one long-lived child
process (``multiprocessing``'s *spawn* context: the service process has threads, so no plain fork) that
keeps its own unchanged-file cache (:class:`wms2.core.dag_files.DagFiles`).  At the start of a batch the
DAG Monitor asks the engine about each DAG, then sends the file work of the running ones here
(:meth:`StatusReader.send`); the child reads DAG after DAG while the main process does the database
work of the DAGs already read, and a poll takes its ready answer (:meth:`StatusReader.take`).

Failures never lose or double-count anything: the answer depends only on the files and on the completed
set sent with the job, exactly as the in-process read.  A reader that dies, errs or does not answer
within ``status_reader_timeout_seconds`` is logged once and stopped; the polls read in-process, and a new
reader is started ``status_reader_restart_seconds`` later.

The child imports only :mod:`wms2.core.dag_files` (``wms2.dagman``, ``wms2.sandbox.results``, msgspec).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import signal
import sys
import time
import types
from collections.abc import Iterator, Set
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from wms2.core.dag_files import DagFiles, FileReading
from wms2.sandbox.memory import peak_rss_mb

log = logging.getLogger(__name__)

# multiprocessing's context: the service process has threads (API, lease heartbeat), which a plain fork
# would copy in whatever state their locks were in.
START_METHOD = "spawn"
# Time for a stopping reader to exit on its own (after its pipe is closed) before it is terminated.
STOP_GRACE_S = 2.0

_JOB, _FORGET, _STATS = "job", "forget", "stats"


@dataclass(frozen=True)
class ReaderSettings:
    """The numbers of ``lifecycle.status_reader_*`` (``wms2.config.LifecycleSettings``)."""

    timeout_s: float
    restart_s: float
    min_dags: int  # a batch with fewer running DAGs is read in-process


@dataclass
class _Sent:
    total_wus: int
    completed: frozenset[str]


def _serve(conn: Connection) -> None:
    """The child's loop: answer each job in the order received, until the pipe closes."""
    # Ctrl-C in a terminal reaches the whole process group: the lifecycle process shuts down and closes
    # the pipe, which ends this loop (no KeyboardInterrupt traceback from the reader)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    files = DagFiles()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the lifecycle process closed the pipe or died: nothing left to do
            return
        kind = message[0]
        if kind == _JOB:
            _, seq, key, total_wus, completed = message
            try:
                answer: tuple[Any, ...] = (seq, key, files.read_files(Path(key), total_wus, completed), None)
            except Exception as exc:  # the main process reads this DAG itself and meets the error there
                answer = (seq, key, None, f"{type(exc).__name__}: {exc}")
            conn.send(answer)
        elif kind == _FORGET:
            for key in message[1]:
                files.forget(key)
        elif kind == _STATS:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            conn.send((message[1], _STATS, {"pid": os.getpid(), "cpu_seconds": usage.ru_utime + usage.ru_stime,
                                             "peak_rss_mb": peak_rss_mb(), "modules": len(sys.modules),
                                             "heavy_modules": sorted(m for m in ("sqlalchemy", "pydantic",
                                                                                 "fastapi") if m in sys.modules)},
                       None))


@contextmanager
def _light_main() -> Iterator[None]:
    """Start the child without the parent's ``__main__``: *spawn* re-imports the main module in the child
    (the ``wms2`` console script imports the whole CLI, the API and SQLAlchemy; ~100 MB and ~1,100 modules
    in a reader that needs ~140).  While the child's start-up data is gathered, ``sys.modules["__main__"]``
    is an empty module, so the child imports only what :func:`_serve` needs.  A few milliseconds, once per
    reader start; nothing in the service looks ``__main__`` up meanwhile."""
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = saved


class ReaderFailed(RuntimeError):
    """The reader process died, erred on its pipe or did not answer in time."""


class StatusReader:
    """One reader process, started on first use; used by one thread (the lifecycle's) at a time."""

    def __init__(self, settings: ReaderSettings) -> None:
        self.settings = settings
        self._process: Any = None  # multiprocessing's SpawnProcess
        self._conn: Connection | None = None
        self._seq = 0  # the batch: answers of an earlier batch are skipped
        self._sent: dict[str, _Sent] = {}  # jobs of this batch not yet answered and taken
        self._ready: dict[str, FileReading | None] = {}
        self._outstanding = 0  # answers still to come from the pipe (this batch and earlier ones)
        self._failed_at: float | None = None
        self._to_forget: list[str] = []
        self.starts = 0
        self.failures = 0

    # -- batches ---------------------------------------------------------------------------------
    def begin(self) -> bool:
        """A new batch: earlier answers not taken are dropped.  False when no reader is available now
        (it failed less than ``restart_s`` ago): the batch reads in-process."""
        self._drain()  # answers of the last batch that were not taken (a request that failed before its poll)
        self._seq += 1
        self._sent.clear()
        self._ready.clear()
        if self._conn is None:
            if self._failed_at is not None and time.monotonic() - self._failed_at < self.settings.restart_s:
                return False
            try:
                self._start()
            except (OSError, RuntimeError) as exc:
                self._fail(f"cannot start: {exc}")
                return False
        keys, self._to_forget = self._to_forget, []
        if keys and self._conn is not None:
            try:
                self._conn.send((_FORGET, keys))
            except (OSError, ValueError) as exc:
                self._fail(f"send failed: {exc}")
                return False
        return True

    def end(self) -> None:
        """The batch is over: answers not taken are not used (they are received and dropped by the next
        :meth:`begin`)."""
        self._seq += 1
        self._sent.clear()
        self._ready.clear()

    def send(self, submit_dir: Path, total_wus: int, completed: Set[str]) -> bool:
        """Queue the file work of one running DAG (after its engine query); False if it was not sent."""
        if self._conn is None:
            return False
        key, done = str(submit_dir), frozenset(completed)
        try:
            # answers already there are taken off the pipe first: the reader never waits to send while this
            # process waits to send (both directions full would block both)
            while self._conn is not None and self._conn.poll(0):
                self._receive_one()
            if self._conn is None:
                return False
            self._conn.send((_JOB, self._seq, key, total_wus, done))
        except ReaderFailed as exc:
            self._fail(str(exc))
            return False
        except (OSError, ValueError) as exc:
            self._fail(f"send failed: {exc}")
            return False
        self._outstanding += 1
        self._sent[key] = _Sent(total_wus, done)
        return True

    def forget(self, keys: list[str]) -> None:
        """Let the reader drop its cache of DAGs that ended (sent at the next batch's start, when nothing is
        on its way back: a send now could wait for a reader that waits for this process to read)."""
        if self._conn is not None:  # a new reader starts with an empty cache
            self._to_forget.extend(keys)

    def take(self, submit_dir: Path, total_wus: int, completed: Set[str]) -> FileReading | None:
        """The reader's answer for a DAG sent in this batch with the same arguments, or None: read it
        in-process (not sent, reader failed, or the reader met an error on this DAG)."""
        key = str(submit_dir)
        sent = self._sent.pop(key, None)
        if sent is None:
            return None
        try:
            while key not in self._ready and self._conn is not None:
                self._receive_one()
        except ReaderFailed as exc:
            self._fail(str(exc))
            return None
        reading = self._ready.pop(key, None)
        if sent.total_wus != total_wus or sent.completed != completed:
            return None  # asked with other arguments than the poll's (not expected): the poll reads itself
        return reading

    def stats(self) -> dict[str, Any] | None:
        """The reader's own figures (pid, CPU seconds, peak RSS, modules imported), or None."""
        if self._conn is None:
            return None
        self._drain()
        try:
            self._conn.send((_STATS, self._seq))
            while self._conn is not None:
                answer = self._recv()
                if answer[1] == _STATS:
                    return dict(answer[2])
        except ReaderFailed as exc:
            self._fail(str(exc))
        except (OSError, ValueError) as exc:
            self._fail(f"send failed: {exc}")
        return None

    def close(self) -> None:
        """Stop the reader (idempotent): its pipe closes, it exits; terminated if it does not."""
        conn, process = self._conn, self._process
        self._conn, self._process = None, None
        self._sent.clear()
        self._ready.clear()
        self._to_forget.clear()
        self._outstanding = 0
        if conn is not None:
            conn.close()
        if process is not None:
            process.join(STOP_GRACE_S)
            if process.is_alive():
                process.terminate()
                process.join(STOP_GRACE_S)
            process.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    # -- internals -------------------------------------------------------------------------------
    def _start(self) -> None:
        ctx = multiprocessing.get_context(START_METHOD)
        parent, child = ctx.Pipe(duplex=True)
        process = ctx.Process(target=_serve, args=(child,), name="wms2-status-reader", daemon=True)
        with _light_main():
            process.start()
        child.close()
        self._conn, self._process = parent, process
        self._outstanding = 0
        self.starts += 1
        log.info("status reader started (pid %s)", process.pid)

    def _recv(self) -> tuple[Any, ...]:
        conn = self._conn
        if conn is None:
            raise ReaderFailed("not running")
        try:
            if not conn.poll(self.settings.timeout_s):
                raise ReaderFailed(f"no answer within {self.settings.timeout_s:g}s")
            answer = conn.recv()
        except (EOFError, OSError) as exc:
            raise ReaderFailed(f"pipe closed: {exc!r}") from None
        return answer  # type: ignore[no-any-return]

    def _receive_one(self) -> None:
        seq, key, reading, error = self._recv()
        if key == _STATS:
            return
        self._outstanding -= 1
        if seq != self._seq:
            return  # an answer of an earlier batch that was not taken
        if error is not None:
            log.warning("status reader: %s: %s (read in-process)", key, error)
        self._ready[key] = reading

    def _drain(self) -> None:
        """Receive every answer still to come (before a request whose answer follows them)."""
        try:
            while self._outstanding > 0 and self._conn is not None:
                self._receive_one()
        except ReaderFailed as exc:
            self._fail(str(exc))

    def _fail(self, why: str) -> None:
        self.failures += 1
        self._failed_at = time.monotonic()
        log.error("status reader failed (%s): DAGMan's files are read in-process; a new reader starts in"
                  " %.0fs", why, self.settings.restart_s)
        self.close()
