"""``compare(ref, new, settings)``: the two-pass streaming comparison of two sets of ROOT files.

The header pass reads every file's trees, numeric branches, entries and the first entries of each
branch; the common fine bins are placed from both sides' pooled first entries; then one streaming pass
over every entry range computes moments, extrema, NaN/inf counts and the fine-bin counts.  Both passes
fan out over a process pool (entry ranges of ``task_mb``) and results are merged in task order, so the
same inputs give bit-identical summaries.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from multiprocessing import get_context
from typing import Any, TypeVar

import numpy as np

from wms2.config import ValidationSettings
from wms2.validation.inputs import SideInput
from wms2.validation.model import (
    BranchResult,
    Resources,
    Thresholds,
    TreeResult,
    ValidationError,
    ValidationResult,
    overall,
)
from wms2.validation.results import branch_result, missing_branch, tree_result
from wms2.validation.scan import FileSchema, ScanResult, ScanTask, TreeSchema, _peak_rss_mb, read_schema, scan
from wms2.validation.stats import Moments, make_binning

_MB = 1024 * 1024
T = TypeVar("T")
R = TypeVar("R")
Key = tuple[str, str, str]  # (side, group, tree)


class _Pool:
    """A process pool (forkserver: safe from a threaded server; workers preload the scan module),
    or plain in-process calls for one worker."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        if workers > 1:
            ctx = get_context("forkserver")
            ctx.set_forkserver_preload(["wms2.validation.scan"])
            self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)

    def map(self, fn: Callable[[T], R], items: Iterable[T], tick: Callable[[], None] | None = None) -> list[R]:
        """Results in input order; ``tick()`` after each one (progress reports)."""
        results = (fn(item) for item in items) if self._executor is None else self._executor.map(fn, items)
        out = []
        for result in results:
            out.append(result)
            if tick is not None:
                tick()
        return out

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)


@dataclass
class _Group:
    """One pair of file sets to compare (one output tier of each request, or the two file lists)."""

    name: str
    ref: list[str] | None
    new: list[str] | None


def _pair_groups(ref: SideInput, new: SideInput) -> list[_Group]:
    if len(ref.groups) == 1 and len(new.groups) == 1:  # one set each: compare them whatever their names
        (rname, rfiles), (nname, nfiles) = next(iter(ref.groups.items())), next(iter(new.groups.items()))
        return [_Group(rname if rname == nname else f"{rname}|{nname}", rfiles, nfiles)]
    names = list(dict.fromkeys([*ref.groups, *new.groups]))
    return [_Group(n, ref.groups.get(n), new.groups.get(n)) for n in names]


def _side_schema(files: list[str], schemas: dict[str, FileSchema]) -> dict[str, tuple[TreeSchema, list[int]]]:
    """Trees of the first file, checked in every other file: tree -> (schema, entries per file)."""
    first = schemas[files[0]]
    out: dict[str, tuple[TreeSchema, list[int]]] = {}
    for tree, schema in first.trees.items():
        entries = []
        for path in files:
            other = schemas[path].trees.get(tree)
            if other is None:
                raise ValidationError(f"{path}: has no tree {tree!r} (present in {files[0]})")
            missing = sorted(set(schema.numeric) - set(other.numeric))
            if missing:
                raise ValidationError(f"{path}: tree {tree!r} lacks branch {missing[0]!r} (present in {files[0]})")
            entries.append(other.entries)
        out[tree] = (schema, entries)
    return out


@dataclass
class _Partial:
    """Results known from the schemas alone (one-sided tiers, trees, branches) and the trees' counts."""

    branches: list[BranchResult] = field(default_factory=list)
    trees: list[TreeResult] = field(default_factory=list)


@dataclass
class _Plan:
    tasks: list[ScanTask]
    branches: dict[Key, list[str]]  # what is compared per side/group/tree
    integer: dict[tuple[str, str, str], bool]  # (group, tree, branch) -> integer on both sides


def _ranges(entries: int, bytes_per_entry: float, task_mb: float) -> list[tuple[int, int]]:
    step = max(1, int(task_mb * _MB / max(bytes_per_entry, 1.0)))
    return [(start, min(start + step, entries)) for start in range(0, entries, step)]


def _tasks(key: Key, files: list[str], schema: TreeSchema, entries: list[int], branches: list[str],
           cfg: ValidationSettings) -> list[ScanTask]:
    tasks = []
    for path, n in zip(files, entries, strict=True):
        for start, stop in _ranges(n, schema.bytes_per_entry, cfg.task_mb):
            tasks.append(ScanTask(key, path, start, stop, tuple(branches), cfg.chunk_mb, binnings={}))
    return tasks


def _plan(groups: list[_Group], schemas: dict[str, FileSchema], cfg: ValidationSettings,
          results: _Partial) -> _Plan:
    """Tasks for the trees and branches present on both sides; trees/branches/groups present on one
    side only become 'different' results at once (appended to ``results``)."""
    plan = _Plan([], {}, {})
    for group in groups:
        if group.ref is None or group.new is None:
            side = "ref" if group.new is None else "new"
            results.trees.append(tree_result(group.name, "*", None, None, only_in=side, problem=f"tier {group.name} "
                                       f"only in {side}"))
            continue
        ref_s, new_s = _side_schema(group.ref, schemas), _side_schema(group.new, schemas)
        for tree in dict.fromkeys([*ref_s, *new_s]):
            if tree not in ref_s or tree not in new_s:
                side = "ref" if tree in ref_s else "new"
                results.trees.append(tree_result(group.name, tree, None, None, only_in=side,
                                           problem=f"tree {tree} only in {side}"))
                continue
            (rs, rentries), (ns, nentries) = ref_s[tree], new_s[tree]
            common = [b for b in rs.numeric if b in ns.numeric]
            for b in rs.numeric:
                if b not in ns.numeric:
                    results.branches.append(missing_branch(b, tree, group.name, "ref"))
            for b in ns.numeric:
                if b not in rs.numeric:
                    results.branches.append(missing_branch(b, tree, group.name, "new"))
            skipped = sorted(set(rs.other) | set(ns.other))
            results.trees.append(tree_result(group.name, tree, sum(rentries), sum(nentries), skipped=skipped,
                                             z_max=cfg.z_max))
            for side, files, schema, entries in (("ref", group.ref, rs, rentries), ("new", group.new, ns, nentries)):
                key = (side, group.name, tree)
                plan.branches[key] = common
                if common:
                    plan.tasks += _tasks(key, files, schema, entries, common, cfg)
            for b in common:
                plan.integer[(group.name, tree, b)] = rs.numeric[b] and ns.numeric[b]
    return plan


def _samples(plan: _Plan, groups: list[_Group], schemas: dict[str, FileSchema]) -> dict[tuple[str, str, str],
                                                                                       np.ndarray]:
    """(group, tree, branch) -> both sides' first entries, pooled."""
    out: dict[tuple[str, str, str], list[np.ndarray]] = {}
    for group in groups:
        for path in [*(group.ref or []), *(group.new or [])]:
            for tree, branches in schemas[path].samples.items():
                for b, values in branches.items():
                    if (group.name, tree, b) in plan.integer:
                        out.setdefault((group.name, tree, b), []).append(values)
    return {k: np.concatenate(v) for k, v in out.items()}


def _merge(tasks: list[ScanTask], results: list[ScanResult]) -> tuple[dict, dict]:
    moments: dict[tuple[Key, str], Moments] = {}
    counts: dict[tuple[Key, str], np.ndarray] = {}
    for task, res in zip(tasks, results, strict=True):
        for b in task.branches:
            moments.setdefault((task.key, b), Moments()).merge(res.moments[b])
            acc = counts.get((task.key, b))
            counts[(task.key, b)] = res.counts[b] if acc is None else acc + res.counts[b]
    return moments, counts


#: ``progress(stage, done, total)``: stage ``headers`` counts files, ``scan`` counts entry-range tasks.
Progress = Callable[[str, int, int], None]


def _ticker(progress: Progress | None, stage: str, total: int) -> Callable[[], None] | None:
    if progress is None:
        return None
    done = [0]
    progress(stage, 0, total)

    def tick() -> None:
        done[0] += 1
        progress(stage, done[0], total)

    return tick


def compare(ref: SideInput, new: SideInput, cfg: ValidationSettings,
            progress: Progress | None = None) -> ValidationResult:
    """Compare every numeric branch of every tree of the two sides (see the module doc); ``progress``
    is called as the two passes advance (from this thread)."""
    started = time.monotonic()
    files = list(dict.fromkeys([*ref.files, *new.files]))
    prefix = max(1, math.ceil(cfg.sample_size / max(min(len(ref.files), len(new.files)), 1)))
    groups = _pair_groups(ref, new)
    pool = _Pool(cfg.workers)
    try:
        schemas = dict(zip(files, pool.map(partial(read_schema, prefix_entries=prefix), files,
                                           _ticker(progress, "headers", len(files))), strict=True))
        partial_results = _Partial()
        plan = _plan(groups, schemas, cfg, partial_results)
        samples = _samples(plan, groups, schemas)
        binnings = {key: make_binning(integer, samples.get(key, np.zeros(0)), cfg.fine_bins, cfg.tail_quantile)
                    for key, integer in plan.integer.items()}
        tasks = [replace(t, binnings={b: binnings[(t.key[1], t.key[2], b)] for b in t.branches}) for t in plan.tasks]
        results: list[ScanResult] = pool.map(scan, tasks, _ticker(progress, "scan", len(tasks)))
    finally:
        pool.close()
    moments, counts = _merge(tasks, results)
    branches = list(partial_results.branches)
    for (group, tree, b), binning in binnings.items():
        rk, nk = ("ref", group, tree), ("new", group, tree)
        rm, nm = moments.get((rk, b), Moments()), moments.get((nk, b), Moments())
        empty = np.zeros(binning.n + 2, dtype=np.int64)
        final = binning.with_extrema(min(rm.lo, nm.lo), max(rm.hi, nm.hi))
        branches.append(branch_result(b, tree, group, rm, nm, counts.get((rk, b), empty), counts.get((nk, b), empty),
                                      final, cfg))
    branches.sort(key=lambda r: (r.sort_key(), r.group, r.tree, r.name))
    trees = [t.model_copy(update=_tree_verdict_from_branches(t, branches)) for t in partial_results.trees]
    verdicts = [r.verdict for r in branches] + [t.verdict for t in trees]
    elapsed = time.monotonic() - started
    size = sum(schemas[f].size for f in files)
    worker_peak = max((r.peak_rss_mb for r in results), default=_peak_rss_mb())
    tally = {v: sum(1 for r in branches if r.verdict == v) for v in ("identical", "compatible", "different")}
    return ValidationResult(
        verdict=overall(verdicts), ref=ref.label, new=new.label, branches=branches, trees=trees, counts=tally,
        thresholds=Thresholds(ks_p_min=cfg.ks_p_min, chi2_p_min=cfg.chi2_p_min, z_max=cfg.z_max),
        resources=Resources(files=len(files), bytes=size, seconds=round(elapsed, 3),
                            bytes_per_second=size / elapsed if elapsed > 0 else 0.0, workers=cfg.workers,
                            parent_peak_rss_mb=round(_peak_rss_mb(), 1), worker_peak_rss_mb=round(worker_peak, 1),
                            scan_cpu_seconds=round(sum(r.cpu_s for r in results), 3)),
    )


def _tree_verdict_from_branches(tree: TreeResult, branches: list[BranchResult]) -> dict[str, Any]:
    """A tree whose entries agree is 'identical' only when all its branches are."""
    if tree.verdict != "identical":
        return {}
    own = [b.verdict for b in branches if b.tree == tree.name and b.group == tree.group]
    return {"verdict": overall(["identical", *own]) if own else "identical"}
