"""DAGMan's files of one DAG, as the DAG Monitor reads them (design §4): the outer status file (WU counts
and names by state), the inner status files of running WUs (node counts by role) and the result files
of newly completed WUs (``merge_output.json``, ``work_unit_metrics.json``).

This module imports only light modules (``wms2.dagman``, ``wms2.sandbox.results``, msgspec): it is
what the status-reader process (:mod:`wms2.core.status_reader`) runs, with the same unchanged-file cache
as the in-process monitor, so both give the same :class:`FileReading` for the same files.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Set
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path
from typing import Any

import msgspec

from wms2.dagman.model import NodeStatus
from wms2.dagman.status_file import NodeColumns, node_columns_of_text
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


_JSON_ENCODE = msgspec.json.Encoder().encode
_JSON_DECODE = msgspec.json.Decoder().decode


@dataclass
class CompletedWorkUnit:
    name: str
    site: str | None
    output: MergeOutput
    metrics: WorkUnitMetrics | None

    def as_record(self) -> dict[str, Any]:
        """The stored record: the documents as JSON builtins (tuples become lists), as
        ``model_dump(mode="json")`` gives them, but encoded and decoded by msgspec's C code (~1 per new WU
        per cycle; the recursive Python dump was ~6 % of a steady cycle)."""
        try:
            files = _JSON_DECODE(_JSON_ENCODE(self.output.files))
            metrics = _JSON_DECODE(_JSON_ENCODE(self.metrics)) if self.metrics else None
        except TypeError:  # a value msgspec cannot encode (a document built in code, not decoded): in Python
            files = [f.model_dump(mode="json") for f in self.output.files]
            metrics = self.metrics.model_dump(mode="json") if self.metrics else None
        return {
            "site": self.site,
            "files": files,
            "processed_input_lfns": self.output.processed_input_lfns,
            "metrics": metrics,
            "registered": False,
        }


@dataclass
class FileReading:
    """What the files of a running DAG say (everything a poll needs from them when the engine did not see
    the DAG end); picklable, the status reader's answer."""

    wu_counts: dict[str, int]
    node_counts: dict[str, int]
    by_role: dict[str, dict[str, int]]
    newly_completed: list[CompletedWorkUnit] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


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


def count_wus(view: OuterView | None, total: int) -> dict[str, int]:
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


class _Roles(dict[str, str]):
    """Node name -> role, remembered: a merge group's node names (landing, proc_000001, ..., merge,
    cleanup) are the same in every group, so the role of each is found once per process."""

    def __missing__(self, name: str) -> str:
        role = _PROC_ROLE if name.startswith(_PROC_PREFIX) else _role(name)
        if len(self) < ROLE_NAMES_KEPT:
            self[name] = role
        return role


# Distinct inner node names remembered with their role: a group has ~11 (a few hundred proc_ nodes at most).
ROLE_NAMES_KEPT = 10_000
_ROLES = _Roles()


def _role_counts(nodes: NodeColumns) -> FrozenRoleCounts:
    """(role, state) -> nodes, and (role, "held") -> held jobs, only the non-zero ones; counted by C code
    (``Counter`` over ``map``/``zip``): ~1,000 inner files per 100 DAGs are read every cycle."""
    names, codes, held = nodes
    roles = list(map(_ROLES.__getitem__, names))
    counts: RoleCounts = Counter(zip(roles, map(_STATE_BY_CODE.__getitem__, codes), strict=True))
    if any(held):
        for role, n in zip(roles, held, strict=True):
            if n:
                counts[role, "held"] = counts.get((role, "held"), 0) + n
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


class DagFiles:
    """Reads DAGMan's files of DAGs; stateless towards the database, it only remembers, per process,
    parsed status files keyed by (inode, mtime, size), so a file DAGMan did not rewrite since the last
    read is not parsed again."""

    def __init__(self) -> None:
        self._cache: OrderedDict[str, _DagCache] = OrderedDict()
        self._lock = threading.Lock()

    def read_files(self, submit_dir: Path, total_wus: int, already_completed: Set[str]) -> FileReading:
        """Everything the files of a DAG that is still running say: WU counts, node counts by role, the
        WUs completed since ``already_completed`` with their result files (or listed as unreadable)."""
        cache = self._dag_cache(str(submit_dir))
        view = self._outer_view(submit_dir / OUTER_DAG, cache)
        by_role, node_counts = self._inner_counts(submit_dir, view, cache)
        reading = FileReading(wu_counts=count_wus(view, total_wus), node_counts=node_counts, by_role=by_role)
        if view is not None:
            self._add_completed(submit_dir, view.done - already_completed, reading)
        return reading

    def forget(self, submit_dir: Path | str) -> None:
        """Drop what is remembered about a DAG (it ended)."""
        with self._lock:
            self._cache.pop(str(submit_dir), None)

    def _add_completed(self, submit_dir: Path, new: Set[str], reading: FileReading) -> None:
        for wu in sorted(new):
            completed = self._completed(submit_dir / wu, wu)
            if completed is None:
                reading.unreadable.append(wu)
            else:
                reading.newly_completed.append(completed)

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
        path = f"{dag_file}{STATUS_SUFFIX}"  # strings, not pathlib: ~1,000 inner files per 100 DAGs a cycle
        try:
            with open(path) as fh:  # as Path.read_text
                text = fh.read()
            nodes = node_columns_of_text(text, path)
            unknown = set(nodes[1]).difference(_STATE_BY_CODE)
            if unknown:
                raise ValueError(f"unknown NodeStatus {min(unknown)}")
            return nodes
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("unreadable status file %s: %s", path, exc)
            return None

    def _inner_counts(self, submit_dir: Path, view: OuterView | None,
                      cache: _DagCache) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
        """Per-role node counts (and their sum) from the inner status files of WUs that are running right
        now; a file unchanged since the last read is not parsed again, and WUs no longer running are
        forgotten.  The sum is kept up to date by the WUs that changed (a steady read does one ``stat``
        per running WU)."""
        if view is None:
            cache.inner, cache.totals = {}, {}
            return {}, {}
        try:
            self._update_inner(str(submit_dir), view, cache)
        except BaseException:
            cache.inner, cache.totals = {}, {}  # rebuilt from the files by the next read
            raise
        by_role = _nested(cache.totals)
        return by_role, {k: sum(r[k] for r in by_role.values()) for k in COUNT_KEYS}

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

    @staticmethod
    def _completed(wu_dir: Path, name: str) -> CompletedWorkUnit | None:
        try:
            output = MergeOutput.model_validate_json((wu_dir / MERGE_OUTPUT_FILE).read_bytes())
        except (OSError, ValueError) as exc:  # ContractError, bad JSON
            log.warning("work unit %s: no readable %s: %s", name, MERGE_OUTPUT_FILE, exc)
            return None
        metrics: WorkUnitMetrics | None = None
        try:
            metrics = WorkUnitMetrics.model_validate_json((wu_dir / WORK_UNIT_METRICS_FILE).read_bytes())
        except (OSError, ValueError) as exc:  # ContractError, bad JSON
            log.info("work unit %s: no metrics: %s", name, exc)
        site_file = wu_dir / ELECTED_SITE_FILE
        site = site_file.read_text().strip() if site_file.is_file() else output.site
        return CompletedWorkUnit(name=name, site=site or None, output=output, metrics=metrics)
