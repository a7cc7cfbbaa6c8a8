"""DAG Monitor (design §4): the state of one DAG from DAGMan's own files and the engine's view.

Reads the *outer* node status file (one node per work unit) and, for WUs newly completed since the
last poll, their ``merge_output.json`` / ``work_unit_metrics.json``; for running WUs it reads their
inner status files to count nodes by role.  Cost grows with WUs, never with jobs.  At DAG exit it
does not trust the status file alone (DAGMan may skip its last rewrite): the metrics file, the newest
rescue DAG and the engine's exit code are cross-checked.  No side effects on request status.
"""

from __future__ import annotations

import logging
from collections.abc import Set
from dataclasses import dataclass, field
from pathlib import Path

from wms2.core.dag_files import (
    CACHED_DAGS,
    COUNT_KEYS,
    GROUP_DAG,
    INNER_STATUS,
    OUTER_DAG,
    ROLE_PREFIXES,
    STATUS_SUFFIX,
    CompletedWorkUnit,
    DagFiles,
    FileReading,
    OuterView,
    _DagCache,
    count_wus,
)
from wms2.core.status_reader import StatusReader
from wms2.dagman.metrics import read_metrics
from wms2.dagman.parser import parse_dag
from wms2.dagman.rescue import newest_rescue, read_rescue
from wms2.engines.base import DagJobState, Engine, EngineError, JobUnknown

log = logging.getLogger(__name__)

__all__ = ["CACHED_DAGS", "COUNT_KEYS", "GROUP_DAG", "INNER_STATUS", "OUTER_DAG", "ROLE_PREFIXES", "STATUS_SUFFIX",
           "CompletedWorkUnit", "DagMonitor", "DagPoll", "DagRef", "OuterView"]
_ENDED = (DagJobState.gone, DagJobState.completed, DagJobState.removed)


@dataclass
class DagPoll:
    wu_counts: dict[str, int]
    node_counts: dict[str, int]
    by_role: dict[str, dict[str, int]]
    engine_state: DagJobState | None
    finished: bool = False
    succeeded: bool = False
    exit_code: int | None = None
    removed: bool = False
    failed_work_units: list[str] = field(default_factory=list)
    newly_completed: list[CompletedWorkUnit] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    detail: str = ""


@dataclass(frozen=True)
class DagRef:
    """A DAG a batch will poll, with the arguments of its :meth:`DagMonitor.poll`."""

    submit_dir: Path
    cluster_id: int | None
    schedd: str | None
    total_wus: int
    already_completed: Set[str]


def _dag_nodes(dag_file: Path) -> set[str]:
    """Every node of the DAG file (when no status file was ever written); empty if it cannot be read."""
    try:
        return set(parse_dag(dag_file).nodes)
    except (OSError, ValueError) as exc:
        log.warning("unreadable DAG file %s: %s", dag_file, exc)
        return set()


EngineAnswer = DagJobState | None | Exception
_NOT_ASKED = object()


class DagMonitor(DagFiles):
    """Stateless towards the database; it only remembers, per process, parsed status files keyed by
    (inode, mtime, size), so a file DAGMan did not rewrite since the last poll is not parsed again.

    With a :class:`StatusReader`, a batch's DAGs are announced first (:meth:`begin_batch`): the engine is
    asked about each, and the files of those still running are read by the reader process while this one
    does the database work; :meth:`poll` then takes the ready answer."""

    def __init__(self, engine: Engine, reader: StatusReader | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.reader = reader
        self._asked: dict[tuple[str, int | None, str | None], EngineAnswer] = {}  # this batch's engine answers

    def begin_batch(self, dags: list[DagRef]) -> None:
        """Ask the engine about each DAG of a batch, then (the engine first, the files after, as in
        :meth:`poll`) send the file work of those still running to the reader.  Without a reader, or
        with fewer DAGs than worth a reader, nothing is done here: each poll does it all."""
        self._asked.clear()
        if self.reader is None or len(dags) < self.reader.settings.min_dags or not self.reader.begin():
            return
        ended: list[str] = []
        for ref in dags:
            key = str(ref.submit_dir)
            try:
                state: EngineAnswer = self._engine_state(ref.cluster_id, ref.schedd)
            except Exception as exc:  # raised by the DAG's own poll, as without a reader
                state = exc
            self._asked[key, ref.cluster_id, ref.schedd] = state
            if state in _ENDED:
                ended.append(key)
            elif not isinstance(state, Exception) and self.reader.send(ref.submit_dir, ref.total_wus,
                                                                       ref.already_completed):
                self.forget_local(key)  # the reader's cache is the one in use for this DAG
        self.reader.forget(ended)

    def end_batch(self) -> None:
        """The batch is over: its engine answers and the reader's answers not taken are dropped (a request
        that failed before its poll is asked afresh next time)."""
        self._asked.clear()
        if self.reader is not None:
            self.reader.end()

    def poll(self, submit_dir: Path, cluster_id: int | None, schedd: str | None, total_wus: int,
             already_completed: set[str]) -> DagPoll:
        # The engine first, the files after: DAGMan writes its last status file before it exits, so a DAG
        # seen finished is read in its final state (not one cached or read a moment before the exit).
        asked = self._asked.pop((str(submit_dir), cluster_id, schedd), _NOT_ASKED)
        if asked is _NOT_ASKED:
            engine_state = self._engine_state(cluster_id, schedd)
        elif isinstance(asked, Exception):
            raise asked
        else:
            engine_state = asked  # type: ignore[assignment]
        if engine_state not in _ENDED:
            reading = self.reader.take(submit_dir, total_wus, already_completed) if self.reader else None
            if reading is None:
                reading = self.read_files(submit_dir, total_wus, already_completed)
            return DagPoll(wu_counts=reading.wu_counts, node_counts=reading.node_counts, by_role=reading.by_role,
                           engine_state=engine_state, newly_completed=reading.newly_completed,
                           unreadable=reading.unreadable)
        return self._final_poll(submit_dir, cluster_id, schedd, total_wus, already_completed, engine_state)

    def _final_poll(self, submit_dir: Path, cluster_id: int | None, schedd: str | None, total_wus: int,
                    already_completed: Set[str], engine_state: DagJobState | None) -> DagPoll:
        """The DAG ended: its files read afresh and not remembered, and the end cross-checked."""
        dag_file = submit_dir / OUTER_DAG
        self.forget(submit_dir)
        cache = _DagCache()
        view = self._outer_view(dag_file, cache)
        by_role, node_counts = self._inner_counts(submit_dir, view, cache)
        poll = DagPoll(wu_counts=count_wus(view, total_wus), node_counts=node_counts, by_role=by_role,
                       engine_state=engine_state)
        done_now = set(view.done) if view else set()
        self._finish(dag_file, cluster_id, schedd, view, poll, done_now)
        if poll.succeeded:
            poll.wu_counts = {**dict.fromkeys(poll.wu_counts, 0), "total": total_wus, "done": total_wus}
        reading = FileReading(poll.wu_counts, node_counts, by_role)
        self._add_completed(submit_dir, done_now - already_completed, reading)
        poll.newly_completed, poll.unreadable = reading.newly_completed, reading.unreadable
        return poll

    def forget_local(self, submit_dir: Path | str) -> None:
        """Drop this process's cache of a DAG (the reader's is kept)."""
        DagFiles.forget(self, submit_dir)

    def forget(self, submit_dir: Path | str) -> None:
        """Drop what is remembered about a DAG (it ended), here and in the reader."""
        DagFiles.forget(self, submit_dir)
        if self.reader is not None:
            self.reader.forget([str(submit_dir)])

    def close(self) -> None:
        """Stop the status reader, if any (idempotent)."""
        if self.reader is not None:
            self.reader.close()

    def _engine_state(self, cluster_id: int | None, schedd: str | None) -> DagJobState | None:
        if cluster_id is None or schedd is None:
            return None
        try:
            return self.engine.query(cluster_id, schedd).state
        except JobUnknown:
            return DagJobState.gone

    def _finish(self, dag_file: Path, cluster_id: int | None, schedd: str | None,
                view: OuterView | None, poll: DagPoll, done_now: set[str]) -> None:
        """Cross-check the end of the DAG: exit code, metrics, rescue file, status file."""
        exit_code: int | None = None
        reason = ""
        if cluster_id is not None and schedd is not None:
            try:
                info = self.engine.exit_info(cluster_id, schedd)
                exit_code, poll.removed, reason = info.exit_code, info.removed, info.reason
            except EngineError as exc:
                reason = f"engine has no exit information: {exc}"
        metrics_path = dag_file.with_name(dag_file.name + ".metrics")
        if metrics_path.is_file():
            try:
                metrics = read_metrics(metrics_path)
                exit_code = exit_code if exit_code is not None else int(metrics.get("exitcode", 1))
            except (OSError, ValueError) as exc:
                log.warning("unreadable metrics %s: %s", metrics_path, exc)
        rescue = newest_rescue(dag_file)
        failed: set[str] = set(view.failed) if view is not None else set()
        if exit_code == 0 and not poll.removed and not failed:
            # DAGMan exits 0 only when every node succeeded, even if it skipped its last status rewrite.
            # A status file cut short (torn as DAGMan exited) is refused by the reader, so ``view`` is then None
            # and the nodes come from the DAG file.
            done_now |= set(view.names) if view is not None else _dag_nodes(dag_file)
        if rescue is not None and (exit_code or 0) != 0:
            rdag = read_rescue(rescue[1])
            done_now |= set(rdag.done)
            if view is not None:
                failed |= set(view.names) - set(rdag.done)
        poll.finished = True
        poll.exit_code = exit_code
        poll.succeeded = exit_code == 0 and not failed and not poll.removed
        poll.failed_work_units = sorted(failed - done_now)
        poll.detail = reason

