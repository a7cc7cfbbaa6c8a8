"""The merge job (``wms2-job merge --manifest M``).

Per output dataset/tier: the unmerged files of the work unit's processing jobs (from their
``<node>.report.json``) are batched up to ``max_merge_size`` and merged: read with
:mod:`wms2.sandbox.rootread` (the simulator's files; uproot for any other ROOT file), written as
a ``TTree`` by :mod:`wms2.sandbox.rootfile`, every entry of the ``Events`` tree kept, the result checked
by re-reading it.  Files of at least ``oversized_fraction * max_merge_size`` are copied as they are.
Each merged file is staged out under its merged LFN with its adler32.  Writes ``merge_output.json``
and ``work_unit_metrics.json``.

Idempotent: a retry whose ``merge_output.json`` lists files that are all present with the recorded
size and checksum does not merge again; otherwise merged LFNs are deterministic and overwritten.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wms2.sandbox import ads
from wms2.sandbox.exitcodes import (
    FILE_READ_ERROR,
    FILE_WRITE_ERROR,
    OUTPUT_NOT_FOUND,
    UNCAUGHT_EXCEPTION,
    process_exit_status,
)
from wms2.sandbox.manifest import WorkUnitManifest
from wms2.sandbox.metrics import aggregate
from wms2.sandbox.report import JobReport, StagedOutput
from wms2.sandbox.results import (
    ELECTED_SITE_FILE,
    MERGE_OUTPUT_FILE,
    WORK_UNIT_METRICS_FILE,
    MergedFile,
    MergeOutput,
)
from wms2.sandbox.stageout import StageOut, StageOutError, adler32_of

TREE = "Events"
#: Entries are copied in chunks of this size so that a merge never holds whole files in memory.
_STEP_SIZE = "64 MB"
#: The same bound for files read by wms2.sandbox.rootread: their batches are joined up to this size.
_STEP_BYTES = 64_000_000
MERGE_NODE = "merge"


class MergeError(Exception):
    def __init__(self, exit_code: int, message: str):
        super().__init__(message)
        self.exit_code = exit_code


def batches(files: list[StagedOutput], max_size: int, oversized_fraction: float) -> list[list[StagedOutput]]:
    """Greedy batches in node order; an oversized file is a batch of its own (copied as it is)."""
    result: list[list[StagedOutput]] = []
    current: list[StagedOutput] = []
    size = 0
    for f in files:
        if f.size >= oversized_fraction * max_size:
            result.append([f])
            continue
        if current and size + f.size > max_size:
            result.append(current)
            current, size = [], 0
        current.append(f)
        size += f.size
    if current:
        result.append(current)
    return result


def merge_root_files(inputs: list[str], target: Path) -> int:
    """Concatenate the ``Events`` trees of ``inputs`` into ``target`` (a ``TTree``, as the simulator
    writes); returns the entries written.  Files of :mod:`wms2.sandbox.rootfile`'s format are read by
    :mod:`wms2.sandbox.rootread`, any other ROOT file by uproot (imported only then); the merged file is
    written by :mod:`wms2.sandbox.rootfile` and re-counted by the former.  An unreadable input is a read
    error, a failed write a write error."""
    from wms2.sandbox.rootfile import TreeWriter  # deferred (numpy): only a merge needs it
    from wms2.sandbox.rootread import NotFlatTree, inspect_flat_tree

    if not inputs:
        raise MergeError(FILE_READ_ERROR, f"no unmerged files to merge into {target}")
    expected = 0
    tmp = target.with_name(target.name + ".part")
    try:
        with TreeWriter(tmp, TREE) as out:
            for path in inputs:
                for chunk in _chunks(path):
                    if isinstance(chunk, int):
                        expected += chunk
                    elif out.entries == 0 or len(next(iter(chunk.values()), [])):
                        out.write(chunk)  # the first chunk fixes the branches, even an empty one
    except (OSError, ValueError) as exc:
        raise MergeError(FILE_WRITE_ERROR, f"cannot write merged file {target}: {exc}") from exc
    try:
        written = inspect_flat_tree(tmp, TREE).entries
    except (OSError, NotFlatTree) as exc:
        raise MergeError(FILE_WRITE_ERROR, f"cannot re-read merged file {target}: {exc}") from exc
    if written != expected:
        raise MergeError(FILE_WRITE_ERROR, f"merged file {target} has {written} entries, expected {expected}")
    os.replace(tmp, target)
    return written


def _chunks(path: str) -> Iterator[int | dict[str, Any]]:
    """The entry count of ``path``'s tree, then its entries in chunks (one empty chunk for an empty tree)."""
    from wms2.sandbox.rootread import read_flat_tree

    try:
        tree = read_flat_tree(path, TREE)
        if tree is None:
            yield from _uproot_chunks(path)
            return
        yield tree.entries
        if tree.entries == 0:
            yield tree.empty_batch()
            return
        yield from _coalesced(tree.batches(), _STEP_BYTES)
    except (OSError, KeyError, ValueError) as exc:
        raise MergeError(FILE_READ_ERROR, f"cannot read unmerged file {path}: {exc}") from exc


def _coalesced(batches: Iterator[dict[str, Any]], limit: int) -> Iterator[dict[str, Any]]:
    """Consecutive batches joined up to ``limit`` bytes (one basket per branch per chunk in the output)."""
    import numpy as np

    pending: list[dict[str, Any]] = []
    size = 0
    for batch in batches:
        nbytes = sum(a.nbytes for a in batch.values())
        if pending and size + nbytes > limit:
            yield _joined(np, pending)
            pending, size = [], 0
        pending.append(batch)
        size += nbytes
    if pending:
        yield _joined(np, pending)


def _joined(np: Any, batches: list[dict[str, Any]]) -> dict[str, Any]:
    if len(batches) == 1:
        return batches[0]
    return {name: np.concatenate([b[name] for b in batches]) for name in batches[0]}


def _uproot_chunks(path: str) -> Iterator[int | dict[str, Any]]:
    """As :func:`_chunks`, for any ROOT file uproot reads (TTree or RNTuple, compressed or not)."""
    import uproot  # deferred: its import (awkward, fsspec) costs ~0.2 CPU-s; only foreign files need it

    tree = uproot.open(path)[TREE]
    yield int(tree.num_entries)
    if tree.num_entries == 0:
        yield tree.arrays(library="np", entry_stop=0)
        return
    yield from tree.iterate(step_size=_STEP_SIZE, library="np")


class Merger:
    def __init__(self, manifest: WorkUnitManifest, wudir: Path, workdir: Path):
        self.manifest = manifest
        self.wudir = wudir
        self.workdir = workdir
        site_file = wudir / ELECTED_SITE_FILE
        self.site = site_file.read_text().strip() if site_file.exists() else ads.machine_site()
        self.stageout = StageOut(manifest.stageout, self.site)

    def reports(self) -> list[JobReport]:
        reports = []
        for job in self.manifest.jobs:
            report = JobReport.read(self.wudir, job.node)
            if report is None or report.exit_code != 0:
                raise MergeError(OUTPUT_NOT_FOUND, f"no successful report for {job.node} in {self.wudir}")
            reports.append(report)
        return reports

    def merged_lfn(self, out: StagedOutput, batch: int) -> str:
        base = None
        for step in self.manifest.steps:
            for module in step.outputs:
                if module.module == out.module and step.name == out.step:
                    base = module.merged_lfn_base
        m = self.manifest
        base = base or f"{m.stageout.lfn_prefix.rstrip('/')}/merged/{m.request_name}/{out.tier}"
        return f"{base.rstrip('/')}/{m.block_index:06d}/{m.work_unit}-r{m.round}-{batch:03d}.root"

    def _merge_batch(self, batch: list[StagedOutput], lfn: str, ranges: dict[str, tuple[int, int]]) -> MergedFile:
        first = batch[0]
        oversized = (
            len(batch) == 1
            and first.size >= self.manifest.merge.oversized_fraction * self.manifest.merge.max_merge_size
        )
        local = self.workdir / Path(lfn).name
        if oversized:
            source = self.stageout.local_path(first.lfn) if self.manifest.stageout.mode == "local" else Path(first.pfn)
            staged = self.stageout.put(source, lfn)
            events = first.events
        else:
            events = merge_root_files([f.pfn for f in batch], local)
            staged = self.stageout.put(local, lfn)
            local.unlink(missing_ok=True)
        lumis: dict[str, set[int]] = {}
        for f in batch:
            for run, ls in f.lumis.items():
                lumis.setdefault(run, set()).update(ls)
        return MergedFile(
            dataset=first.dataset,
            tier=first.tier,
            lfn=lfn,
            pfn=staged.pfn,
            size=staged.size,
            adler32=staged.adler32,
            events=events,
            lumis={run: sorted(ls) for run, ls in sorted(lumis.items())},
            event_ranges=sorted(ranges[f.lfn] for f in batch if f.lfn in ranges),
            input_lfns=sorted({p for f in batch for p in f.parents}),
            site=self.site,
            merged=not oversized,
        )

    def previous_output_valid(self) -> MergeOutput | None:
        path = self.wudir / MERGE_OUTPUT_FILE
        if not path.exists():
            return None
        previous = MergeOutput.model_validate_json(path.read_text())
        for f in previous.files:
            try:
                local = self.stageout.local_path(f.lfn)
            except StageOutError:
                return None
            if not local.is_file() or local.stat().st_size != f.size or adler32_of(local) != f.adler32:
                return None
        return previous

    def run(self) -> MergeOutput:
        reports = self.reports()
        previous = self.previous_output_valid() if self.manifest.stageout.mode == "local" else None
        metrics = aggregate(self.manifest.work_unit, reports, self.site)
        _write_json(self.wudir / WORK_UNIT_METRICS_FILE, metrics.model_dump_json(indent=1))
        if previous is not None:
            return previous
        ranges = {o.lfn: r.event_range for r in reports if r.event_range is not None for o in r.outputs}
        groups: dict[tuple[str, str], list[StagedOutput]] = {}
        for report in reports:
            for out in report.outputs:
                groups.setdefault((out.dataset, out.tier), []).append(out)
        self.workdir.mkdir(parents=True, exist_ok=True)
        files = []
        for (_dataset, _tier), outs in sorted(groups.items()):
            merge = self.manifest.merge
            for number, batch in enumerate(batches(outs, merge.max_merge_size, merge.oversized_fraction)):
                files.append(self._merge_batch(batch, self.merged_lfn(batch[0], number), ranges))
        result = MergeOutput(
            work_unit=self.manifest.work_unit,
            site=self.site,
            files=files,
            processed_input_lfns=sorted({lfn for r in reports for lfn in r.input_lfns}),
        )
        _write_json(self.wudir / MERGE_OUTPUT_FILE, result.model_dump_json(indent=1))
        shutil.rmtree(self.workdir, ignore_errors=True)
        return result


def _write_json(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def run_merge(manifest_path: str | Path) -> int:
    """Entry point of ``wms2-job merge``: returns the process exit status."""
    path = Path(manifest_path).resolve()
    manifest = WorkUnitManifest.load(path)
    wudir = path.parent
    report = JobReport(node=MERGE_NODE, work_unit=manifest.work_unit)
    t0 = time.monotonic()
    try:
        merger = Merger(manifest, wudir, Path.cwd() / "merge.work")
        report.site = merger.site
        merger.run()
    except MergeError as exc:
        report.exit_code, report.error_message = exc.exit_code, str(exc)
    except StageOutError as exc:
        report.exit_code, report.error_message = exc.exit_code, str(exc)
    except Exception as exc:
        report.exit_code, report.error_message = UNCAUGHT_EXCEPTION, f"{type(exc).__name__}: {exc}"
        raise
    finally:
        report.wall_s = time.monotonic() - t0
        report.write(wudir)
    return process_exit_status(report.exit_code)
