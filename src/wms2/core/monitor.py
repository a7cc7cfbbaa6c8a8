"""DAG Monitor (design §4): the state of one DAG from DAGMan's own files and the engine's view.

Reads the *outer* node status file (one node per work unit) and, for WUs newly completed since the
last poll, their ``merge_output.json`` / ``work_unit_metrics.json``; for running WUs it reads their
inner status files to count nodes by role.  Cost grows with WUs, never with jobs.  At DAG exit it
does not trust the status file alone (DAGMan may skip its last rewrite): the metrics file, the newest
rescue DAG and the engine's exit code are cross-checked.  No side effects on request status.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path
from typing import Any

from wms2.dagman.metrics import read_metrics
from wms2.dagman.model import NodeStatus
from wms2.dagman.parser import parse_dag
from wms2.dagman.rescue import newest_rescue, read_rescue
from wms2.dagman.status_file import NodeColumns, read_node_columns
from wms2.engines.base import DagJobState, Engine, EngineError, JobUnknown
from wms2.sandbox.results import (
    ELECTED_SITE_FILE,
    MERGE_OUTPUT_FILE,
    WORK_UNIT_METRICS_FILE,
    MergeOutput,
    WorkUnitMetrics,
)

log = logging.getLogger(__name__)

OUTER_DAG = "workflow.dag"
STATUS_SUFFIX = ".status"
GROUP_DAG = "group.dag"
INNER_STATUS = GROUP_DAG + STATUS_SUFFIX
ROLE_PREFIXES = (("landing", "Landing"), ("proc_", "Processing"), ("merge", "Merge"), ("cleanup", "Cleanup"))
_PROC_PREFIX, _PROC_ROLE = ROLE_PREFIXES[1]  # 8 of a merge group's 11 nodes: tested first


@dataclass
class CompletedWorkUnit:
    name: str
    site: str | None
    output: MergeOutput
    metrics: WorkUnitMetrics | None

    def as_record(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "files": [f.model_dump(mode="json") for f in self.output.files],
            "processed_input_lfns": self.output.processed_input_lfns,
            "metrics": self.metrics.model_dump(mode="json") if self.metrics else None,
            "registered": False,
        }


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


def _role(node: str) -> str:
    for prefix, role in ROLE_PREFIXES:
        if node.startswith(prefix):
            return role
    return "Other"


_STATE_NAMES = {NodeStatus.DONE: "done", NodeStatus.ERROR: "failed", NodeStatus.FUTILE: "failed",
                NodeStatus.SUBMITTED: "running", NodeStatus.PRERUN: "running", NodeStatus.POSTRUN: "running",
                NodeStatus.READY: "idle", NodeStatus.NOT_READY: "idle"}
_STATE_BY_CODE = {int(code): name for code, name in _STATE_NAMES.items()}
_DONE_CODE = int(NodeStatus.DONE)
_RUNNING_CODES = frozenset(int(c) for c in (NodeStatus.SUBMITTED, NodeStatus.PRERUN, NodeStatus.POSTRUN))
_FAILED_CODES = frozenset(int(c) for c in (NodeStatus.ERROR, NodeStatus.FUTILE))
COUNT_KEYS = ("done", "running", "idle", "failed", "held")
# Parsed status files are remembered per DAG (by submit dir) while the file is unchanged; bounded so a
# DAG that disappears without a final poll cannot make the cache grow: ~300 concurrent workflows
# (design §11) with ample headroom.
CACHED_DAGS = 2000

StatKey = tuple[int, int, int]  # (st_ino, st_mtime_ns, st_size): DAGMan writes .tmp + rename, a new inode


def _stat_key(path: str) -> StatKey | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


@dataclass(frozen=True)
class OuterView:
    """What a poll needs from the outer status file: per-state WU counts and the WU names by state."""

    counts: dict[str, int]  # done, running, idle, failed, held (without "total")
    done: frozenset[str]
    running: tuple[str, ...]
    failed: frozenset[str]
    names: tuple[str, ...]  # every node, in file order

    @classmethod
    def of(cls, nodes: NodeColumns) -> OuterView:
        """Built with C-level counting and selection (``Counter``, ``compress``): a 1,250-node file is read
        every cycle for every DAG, so no Python loop per node."""
        names, codes, held = nodes
        counts = dict.fromkeys(COUNT_KEYS, 0)
        for code, n in Counter(codes).items():
            counts[_state(code)] += n
        counts["held"] = sum(held)
        return cls(counts, frozenset(compress(names, map(_DONE_CODE.__eq__, codes))),
                   tuple(compress(names, map(_RUNNING_CODES.__contains__, codes))),
                   frozenset(compress(names, map(_FAILED_CODES.__contains__, codes))), names)


def _dag_nodes(dag_file: Path) -> set[str]:
    """Every node of the DAG file (when no status file was ever written); empty if it cannot be read."""
    try:
        return set(parse_dag(dag_file).nodes)
    except (OSError, ValueError) as exc:
        log.warning("unreadable DAG file %s: %s", dag_file, exc)
        return set()


def _count(view: OuterView | None, total: int) -> dict[str, int]:
    counts = {"total": total, **dict.fromkeys(COUNT_KEYS, 0)}
    if view is None:
        counts["idle"] = total
        return counts
    counts.update(view.counts)
    return counts


def _state(code: int) -> str:
    """done / running / idle / failed for a NodeStatus code (``_read_nodes`` refused unknown codes)."""
    return _STATE_BY_CODE[code]


RoleCounts = dict[tuple[str, str], int]  # (role, state) -> nodes, only the non-zero ones
# The same as pairs in a tuple, for the per-WU cache: tuples of strings and ints are dropped from the
# garbage collector's tracking, so ~40,000 cached running WUs do not lengthen every full collection
# (which stops the API threads too).
FrozenRoleCounts = tuple[tuple[tuple[str, str], int], ...]


def _role_counts(nodes: NodeColumns) -> FrozenRoleCounts:
    counts: RoleCounts = {}
    for name, code, held in zip(*nodes, strict=True):
        role = _PROC_ROLE if name.startswith(_PROC_PREFIX) else _role(name)  # most of a group's nodes
        key = (role, _state(code))
        counts[key] = counts.get(key, 0) + 1
        if held:
            counts[role, "held"] = counts.get((role, "held"), 0) + held
    return tuple(counts.items())


def _nested(flat: RoleCounts) -> dict[str, dict[str, int]]:
    by_role: dict[str, dict[str, int]] = {}
    for (role, state), n in sorted(flat.items()):
        by_role.setdefault(role, dict.fromkeys(COUNT_KEYS, 0))[state] += n
    return by_role


@dataclass
class _DagCache:
    outer: tuple[StatKey, OuterView] | None = None
    inner: dict[str, tuple[str, StatKey, FrozenRoleCounts]] = field(default_factory=dict)  # WU: path, key, counts
    totals: RoleCounts = field(default_factory=dict)  # the sum of ``inner``'s counts, kept up to date


def _add(totals: RoleCounts, roles: FrozenRoleCounts, sign: int) -> None:
    for role_state, n in roles:
        left = totals.get(role_state, 0) + sign * n
        if left:
            totals[role_state] = left
        else:
            del totals[role_state]  # only non-zero entries, as if summed afresh


class DagMonitor:
    """Stateless towards the database; it only remembers, per process, parsed status files keyed by
    (inode, mtime, size), so a file DAGMan did not rewrite since the last poll is not parsed again."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cache: OrderedDict[str, _DagCache] = OrderedDict()
        self._lock = threading.Lock()

    def poll(self, submit_dir: Path, cluster_id: int | None, schedd: str | None, total_wus: int,
             already_completed: set[str]) -> DagPoll:
        dag_file = submit_dir / OUTER_DAG
        # The engine first, the files after: DAGMan writes its last status file before it exits, so a DAG
        # seen finished is read in its final state (not one cached or read a moment before the exit).
        engine_state = self._engine_state(cluster_id, schedd)
        finished = engine_state in (DagJobState.gone, DagJobState.completed, DagJobState.removed)
        if finished:  # read afresh and not remembered: the DAG ended
            self.forget(submit_dir)
            cache = _DagCache()
        else:
            cache = self._dag_cache(str(submit_dir))
        view = self._outer_view(dag_file, cache)
        poll = DagPoll(wu_counts=_count(view, total_wus), node_counts={}, by_role={}, engine_state=engine_state)
        done_now = set(view.done) if view else set()
        self._inner_counts(submit_dir, view, poll, cache)
        if finished:
            self._finish(dag_file, cluster_id, schedd, view, poll, done_now)
            if poll.succeeded:
                poll.wu_counts = {**dict.fromkeys(poll.wu_counts, 0), "total": total_wus, "done": total_wus}
        for wu in sorted(done_now - already_completed):
            completed = self._completed(submit_dir / wu, wu)
            if completed is None:
                poll.unreadable.append(wu)
            else:
                poll.newly_completed.append(completed)
        return poll

    def forget(self, submit_dir: Path) -> None:
        """Drop what is remembered about a DAG (it ended)."""
        with self._lock:
            self._cache.pop(str(submit_dir), None)

    # -- cache -----------------------------------------------------------------------------------
    def _dag_cache(self, key: str) -> _DagCache:
        with self._lock:
            cache = self._cache.get(key)
            if cache is None:
                cache = self._cache[key] = _DagCache()
            self._cache.move_to_end(key)
            while len(self._cache) > CACHED_DAGS:
                self._cache.popitem(last=False)
            return cache

    def _outer_view(self, dag_file: Path, cache: _DagCache) -> OuterView | None:
        path = dag_file.with_name(dag_file.name + STATUS_SUFFIX)
        key = _stat_key(str(path))
        if key is None:
            cache.outer = None
            return None
        if cache.outer is not None and cache.outer[0] == key:
            return cache.outer[1]
        nodes = self._read_nodes(dag_file)
        if nodes is None:
            cache.outer = None
            return None
        view = OuterView.of(nodes)
        cache.outer = (key, view)
        return view

    # -- pieces ----------------------------------------------------------------------------------
    @staticmethod
    def _read_nodes(dag_file: Path) -> NodeColumns | None:
        """Names, NodeStatus codes and held counts of every node in the DAG's status file, or None when it
        does not exist yet or cannot be read (logged).  An unknown NodeStatus code counts as unreadable."""
        path = dag_file.with_name(dag_file.name + STATUS_SUFFIX)
        try:
            nodes = read_node_columns(path)
            unknown = set(nodes[1]).difference(_STATE_BY_CODE)
            if unknown:
                raise ValueError(f"unknown NodeStatus {min(unknown)}")
            return nodes
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("unreadable status file %s: %s", path, exc)
            return None

    def _engine_state(self, cluster_id: int | None, schedd: str | None) -> DagJobState | None:
        if cluster_id is None or schedd is None:
            return None
        try:
            return self.engine.query(cluster_id, schedd).state
        except JobUnknown:
            return DagJobState.gone

    def _inner_counts(self, submit_dir: Path, view: OuterView | None, poll: DagPoll, cache: _DagCache) -> None:
        """Per-role node counts from the inner status files of WUs that are running right now; a file
        unchanged since the last poll is not parsed again, and WUs no longer running are forgotten.  The
        sum is kept up to date by the WUs that changed (a steady poll does one ``stat`` per running WU)."""
        if view is None:
            cache.inner, cache.totals = {}, {}
            return
        try:
            self._update_inner(str(submit_dir), view, cache)
        except BaseException:
            cache.inner, cache.totals = {}, {}  # rebuilt from the files by the next poll
            raise
        by_role = _nested(cache.totals)
        poll.by_role = by_role
        poll.node_counts = {k: sum(r[k] for r in by_role.values()) for k in COUNT_KEYS}

    def _update_inner(self, base: str, view: OuterView, cache: _DagCache) -> None:
        previous, current, totals = cache.inner, {}, cache.totals
        stat = os.stat
        for wu in view.running:
            known = previous.pop(wu, None)
            # the path string is kept with the entry: ~125 running WUs per DAG are stat'ed every cycle
            path = known[0] if known is not None else os.path.join(base, wu, INNER_STATUS)
            try:
                st = stat(path)
            except FileNotFoundError:
                st = None
            key = (st.st_ino, st.st_mtime_ns, st.st_size) if st is not None else None
            if known is not None:
                if known[1] == key:
                    current[wu] = known
                    continue
                _add(totals, known[2], -1)
            if key is None:
                continue
            inner = self._read_nodes(Path(base, wu, GROUP_DAG))
            if inner is None:
                continue
            roles = _role_counts(inner)
            _add(totals, roles, 1)
            current[wu] = (path, key, roles)
        for gone in previous.values():  # WUs no longer running
            _add(totals, gone[2], -1)
        cache.inner = current

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

    @staticmethod
    def _completed(wu_dir: Path, name: str) -> CompletedWorkUnit | None:
        try:
            output = MergeOutput.model_validate_json((wu_dir / MERGE_OUTPUT_FILE).read_text())
        except (OSError, ValueError) as exc:  # ContractError, bad JSON
            log.warning("work unit %s: no readable %s: %s", name, MERGE_OUTPUT_FILE, exc)
            return None
        metrics: WorkUnitMetrics | None = None
        try:
            metrics = WorkUnitMetrics.model_validate_json((wu_dir / WORK_UNIT_METRICS_FILE).read_text())
        except (OSError, ValueError) as exc:  # ContractError, bad JSON
            log.info("work unit %s: no metrics: %s", name, exc)
        site_file = wu_dir / ELECTED_SITE_FILE
        site = site_file.read_text().strip() if site_file.is_file() else output.site
        return CompletedWorkUnit(name=name, site=site or None, output=output, metrics=metrics)
