"""Splitters: turn the work of a round into processing jobs (design §7.1).

Every splitter is exact (the jobs cover the input exactly once, in a deterministic order) and pure.
Generation produces consecutive event ranges; the input splitters take files already filtered by
the catalog (run lists, lumi mask) and sorted by LFN.  Events of a lumi inside a file are the file's
events spread evenly over its lumis (:func:`wms2.services.catalog.spread_events`), so lumi-based
jobs add up to exactly the input's events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wms2.planning.types import InputFile, InputSlice, Job
from wms2.services.catalog import spread_events

DEFAULT_MC_RUN = 1  # CMS Monte Carlo is produced in run 1


class SplittingError(ValueError):
    """The splitting parameters cannot be applied (names the parameter at fault)."""


def _positive(value: int, name: str) -> int:
    if value < 1:
        raise SplittingError(f"{name} must be >= 1, got {value}")
    return value


# -- generation ------------------------------------------------------------------------------------
def split_generation(
    total_events: int,
    events_per_job: int,
    first_event: int = 1,
    first_lumi: int = 1,
    jobs_per_lumi: int = 1,
    max_jobs: int | None = None,
    run: int = DEFAULT_MC_RUN,
    first_index: int = 0,
) -> list[Job]:
    """Consecutive ranges of ``events_per_job`` generated events from ``first_event``; the last job
    takes the remainder.  Lumi numbers start at ``first_lumi``: one per job, or one per
    ``jobs_per_lumi`` consecutive jobs (a work unit, when the filter efficiency is very low)."""
    _positive(events_per_job, "events_per_job")
    _positive(jobs_per_lumi, "jobs_per_lumi")
    if total_events < 0:
        raise SplittingError(f"total_events must be >= 0, got {total_events}")
    count = -(-total_events // events_per_job)
    if max_jobs is not None:
        count = min(count, max_jobs)
    jobs: list[Job] = []
    append = jobs.append
    for i in range(count):
        start = i * events_per_job
        n = min(events_per_job, total_events - start)
        append(Job(first_index + i, n, first_event + start, run, {run: [first_lumi + i // jobs_per_lumi]}))
    return jobs


# -- file-based ------------------------------------------------------------------------------------
def order_files(files: Sequence[InputFile], group_by_location: bool = False) -> list[InputFile]:
    """Deterministic order: by LFN, or by (first replica site, LFN) when grouping by location."""
    if group_by_location:
        return sorted(files, key=lambda f: (f.locations[0] if f.locations else "~", f.lfn))
    return sorted(files, key=lambda f: f.lfn)


def split_files(files: Sequence[InputFile], files_per_job: int, group_by_location: bool = False,
                first_index: int = 0) -> list[Job]:
    """``files_per_job`` whole files per job; with grouping, a job never mixes primary sites."""
    _positive(files_per_job, "files_per_job")
    jobs: list[Job] = []
    current: list[InputFile] = []

    def flush() -> None:
        if current:
            jobs.append(_whole_files_job(first_index + len(jobs), current))
            current.clear()

    site = None
    for f in order_files(files, group_by_location):
        f_site = f.locations[0] if f.locations else None
        if current and (len(current) == files_per_job or (group_by_location and f_site != site)):
            flush()
        site = f_site
        current.append(f)
    flush()
    return jobs


def _whole_files_job(index: int, files: list[InputFile]) -> Job:
    lumis: dict[int, list[int]] = {}
    for f in files:
        for run, ls in f.lumis:
            lumis.setdefault(run, []).extend(ls)
    # Each slice names the file's (selected) lumis: with a lumi mask a whole file may hold lumis the
    # job must skip, so "every lumi of the file" would be wrong.
    return Job(index, sum(f.events for f in files), lumis=lumis,
               inputs=[InputSlice(f.lfn, f.events, lumis={run: list(ls) for run, ls in f.lumis} or None)
                       for f in files])


# -- event-based with input -----------------------------------------------------------------------
def lumis_in_range(f: InputFile, start: int, count: int) -> dict[int, list[int]] | None:
    """Lumis of ``f`` holding events ``[start, start + count)`` (events spread evenly over the lumis,
    as everywhere in planning); a lumi without events goes with the slice starting at its position.
    None when the file has no lumi information."""
    pairs = f.lumi_list()
    if not pairs:
        return None
    out: dict[int, list[int]] = {}
    end = start + count
    cursor = 0
    last = end >= f.events
    for (run, lumi), n in zip(pairs, spread_events(f.events, len(pairs)), strict=True):
        hit = cursor < end and cursor + n > start if n else (start <= cursor < end or (last and cursor >= end))
        if hit:
            out.setdefault(run, []).append(lumi)
        cursor += n
    return out


def _event_job(index: int, events: int, slices: list[InputSlice]) -> Job:
    lumis: dict[int, list[int]] = {}
    for sl in slices:
        for run, ls in (sl.lumis or {}).items():
            have = lumis.setdefault(run, [])
            have.extend(x for x in ls if x not in have)
    return Job(index, events, lumis=lumis, inputs=list(slices))


def split_events(files: Sequence[InputFile], events_per_job: int, first_index: int = 0) -> list[Job]:
    """Accumulate files (by LFN) until ``events_per_job``; a job may read part of a file.  Files
    without events ride along with the job being built so that every file is covered.  Each slice
    names the lumis its event range touches."""
    _positive(events_per_job, "events_per_job")
    jobs: list[Job] = []
    slices: list[InputSlice] = []
    need = events_per_job

    def flush() -> None:
        nonlocal need
        if slices:
            jobs.append(_event_job(first_index + len(jobs), events_per_job - need, slices))
            slices.clear()
        need = events_per_job

    for f in order_files(files):
        if f.events == 0:
            slices.append(InputSlice(f.lfn, 0, lumis=lumis_in_range(f, 0, 0)))
            continue
        offset = 0
        while offset < f.events:
            take = min(need, f.events - offset)
            whole = offset == 0 and take == f.events
            slices.append(InputSlice(f.lfn, f.events, offset, None if whole else take,
                                     lumis_in_range(f, offset, take)))
            offset += take
            need -= take
            if need == 0:
                flush()
    if slices:
        jobs.append(_event_job(first_index + len(jobs), events_per_job - need, slices))
    return jobs


# -- lumi-based ------------------------------------------------------------------------------------
@dataclass(slots=True)
class _LumiUnit:
    run: int
    lumi: int
    events: int
    parts: list[tuple[InputFile, int]]  # (file, events of this lumi in the file)


def lumi_units(files: Sequence[InputFile]) -> list[_LumiUnit]:
    """Every (run, lumi) of the input with the files holding it, ordered by run then lumi."""
    units: dict[tuple[int, int], _LumiUnit] = {}
    for f in order_files(files):
        pairs = f.lumi_list()
        for (run, lumi), n in zip(pairs, spread_events(f.events, len(pairs)), strict=True):
            unit = units.get((run, lumi))
            if unit is None:
                units[(run, lumi)] = _LumiUnit(run, lumi, n, [(f, n)])
            else:
                unit.events += n
                unit.parts.append((f, n))
    return [units[k] for k in sorted(units)]


def _lumi_job(index: int, units: list[_LumiUnit]) -> Job:
    lumis: dict[int, list[int]] = {}
    per_file: dict[str, tuple[InputFile, dict[int, list[int]]]] = {}
    for u in units:
        lumis.setdefault(u.run, []).append(u.lumi)
        for f, _ in u.parts:
            entry = per_file.setdefault(f.lfn, (f, {}))
            entry[1].setdefault(u.run, []).append(u.lumi)
    # Every slice names its lumis explicitly (the worker reads exactly these).
    inputs = [InputSlice(lfn, per_file[lfn][0].events, lumis=per_file[lfn][1]) for lfn in sorted(per_file)]
    return Job(index, sum(u.events for u in units), lumis=lumis, inputs=inputs)


def split_lumis(files: Sequence[InputFile], lumis_per_job: int, mix_runs: bool = False,
                first_index: int = 0) -> list[Job]:
    """``lumis_per_job`` lumi sections per job (whole lumis), never mixing runs unless asked."""
    _positive(lumis_per_job, "lumis_per_job")
    jobs: list[Job] = []
    current: list[_LumiUnit] = []
    for unit in lumi_units(files):
        if current and (len(current) == lumis_per_job or (not mix_runs and unit.run != current[-1].run)):
            jobs.append(_lumi_job(first_index + len(jobs), current))
            current = []
        current.append(unit)
    if current:
        jobs.append(_lumi_job(first_index + len(jobs), current))
    return jobs


def split_event_aware_lumis(files: Sequence[InputFile], events_per_job: int, mix_runs: bool = False,
                            first_index: int = 0) -> list[Job]:
    """Like :func:`split_lumis`, but a job takes the next lumi only while that brings its events
    closer to ``events_per_job``; lumis are never split."""
    _positive(events_per_job, "events_per_job")
    jobs: list[Job] = []
    current: list[_LumiUnit] = []
    events = 0
    for unit in lumi_units(files):
        if current:
            run_break = not mix_runs and unit.run != current[-1].run
            closer = abs(events + unit.events - events_per_job) < abs(events - events_per_job)
            if run_break or not closer:
                jobs.append(_lumi_job(first_index + len(jobs), current))
                current, events = [], 0
        current.append(unit)
        events += unit.events
    if current:
        jobs.append(_lumi_job(first_index + len(jobs), current))
    return jobs


def files_without_lumis(files: Sequence[InputFile]) -> list[str]:
    """Files a lumi-based splitter cannot place (no lumi information): the caller excludes them."""
    return sorted(f.lfn for f in files if not f.lumis)
