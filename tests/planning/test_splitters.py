"""Splitters are exact: no gap, no overlap, totals equal the input (hypothesis property tests)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from wms2.planning.splitters import (
    split_event_aware_lumis,
    split_events,
    split_files,
    split_generation,
    split_lumis,
)
from wms2.planning.types import InputFile, Job
from wms2.services.catalog import spread_events

SITES = ("T1_US_FNAL", "T2_CH_CERN", "T2_DE_DESY")


@st.composite
def datasets(draw: st.DrawFn, with_lumis: bool = True) -> list[InputFile]:
    n = draw(st.integers(0, 25))
    names = draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n, unique=True))
    files = []
    for name in names:
        events = draw(st.integers(0, 400))
        lumis: dict[int, set[int]] = {}
        if with_lumis:
            for _ in range(draw(st.integers(1, 6))):
                run = draw(st.sampled_from([1, 2, 7]))
                lumis.setdefault(run, set()).add(draw(st.integers(1, 40)))
        sites = tuple(draw(st.lists(st.sampled_from(SITES), max_size=2, unique=True)))
        files.append(InputFile(
            lfn=f"/store/data/E/P/RAW/v1/{name:07d}.root", events=events,
            lumis=tuple((r, tuple(sorted(ls))) for r, ls in sorted(lumis.items())), locations=sites,
        ))
    return files


def _lumi_pieces(jobs: list[Job], files: list[InputFile]) -> Counter[tuple[str, int, int]]:
    """(lfn, run, lumi) read by every job, counting repeats."""
    by_lfn = {f.lfn: f for f in files}
    seen: Counter[tuple[str, int, int]] = Counter()
    for job in jobs:
        for s in job.inputs:
            chosen = s.lumis if s.lumis is not None else {r: list(ls) for r, ls in by_lfn[s.lfn].lumis}
            for run, ls in chosen.items():
                for lumi in ls:
                    seen[(s.lfn, run, lumi)] += 1
    return seen


@settings(derandomize=True, max_examples=80, deadline=None)
@given(total=st.integers(0, 50_000), epj=st.integers(1, 3000), first=st.integers(1, 10**9),
       first_lumi=st.integers(1, 10**6), per_lumi=st.integers(1, 9), limit=st.none() | st.integers(0, 40))
def test_generation_is_contiguous_and_exact(total: int, epj: int, first: int, first_lumi: int, per_lumi: int,
                                            limit: int | None) -> None:
    jobs = split_generation(total, epj, first, first_lumi, jobs_per_lumi=per_lumi, max_jobs=limit)
    expected_jobs = -(-total // epj) if limit is None else min(-(-total // epj), limit)
    assert len(jobs) == expected_jobs
    cursor = first
    for i, job in enumerate(jobs):
        assert job.first_event == cursor, "gap or overlap between consecutive jobs"
        assert 0 < job.events <= epj
        if i < len(jobs) - 1:
            assert job.events == epj, "only the last job takes the remainder"
        assert job.lumis == {1: [first_lumi + i // per_lumi]}
        cursor += job.events
    if limit is None:
        assert cursor - first == total


@settings(derandomize=True, max_examples=80, deadline=None)
@given(files=datasets(), fpj=st.integers(1, 6), group=st.booleans())
def test_file_based_covers_every_file_once(files: list[InputFile], fpj: int, group: bool) -> None:
    jobs = split_files(files, fpj, group_by_location=group)
    lfns = [s.lfn for j in jobs for s in j.inputs]
    assert sorted(lfns) == sorted(f.lfn for f in files) and len(set(lfns)) == len(lfns)
    assert all(1 <= len(j.inputs) <= fpj for j in jobs)
    assert sum(j.events for j in jobs) == sum(f.events for f in files)
    assert all(s.max_events is None and s.first_event == 0 for j in jobs for s in j.inputs)
    if not group:
        assert lfns == sorted(lfns), "deterministic LFN order"
    else:
        primary = {f.lfn: (f.locations[0] if f.locations else None) for f in files}
        for job in jobs:
            assert len({primary[s.lfn] for s in job.inputs}) == 1, "a job mixes locations"
    assert [j.index for j in jobs] == list(range(len(jobs)))


@settings(derandomize=True, max_examples=80, deadline=None)
@given(files=datasets(with_lumis=False), epj=st.integers(1, 700))
def test_event_based_covers_every_event_once(files: list[InputFile], epj: int) -> None:
    jobs = split_events(files, epj)
    covered: dict[str, list[tuple[int, int]]] = {}
    for job in jobs:
        assert job.events == sum(s.events for s in job.inputs)
        assert job.events <= epj
        for s in job.inputs:
            covered.setdefault(s.lfn, []).append((s.first_event, s.first_event + s.events))
    for job in jobs[:-1]:
        assert job.events == epj or all(s.file_events == 0 for s in job.inputs)
    assert set(covered) == {f.lfn for f in files}
    for f in files:
        ranges = sorted(covered[f.lfn])
        cursor = 0
        for start, end in ranges:
            assert start == cursor, f"gap or overlap in {f.lfn}"
            cursor = end
        assert cursor == f.events
    assert sum(j.events for j in jobs) == sum(f.events for f in files)


def _check_lumi_jobs(jobs: list[Job], files: list[InputFile], mix_runs: bool) -> None:
    expected = Counter((f.lfn, r, lumi) for f in files for r, ls in f.lumis for lumi in ls)
    assert _lumi_pieces(jobs, files) == expected, "every (file, run, lumi) exactly once"
    assert sum(j.events for j in jobs) == sum(f.events for f in files)
    owners: dict[tuple[int, int], int] = {}
    for job in jobs:
        if not mix_runs:
            assert len(job.lumis) == 1, "a job mixes runs"
        for run, ls in job.lumis.items():
            for lumi in ls:
                assert owners.setdefault((run, lumi), job.index) == job.index, "a lumi was split between jobs"
    # Job events are the sum of their lumis' events (each file's events spread over its lumis).
    per_piece = {}
    for f in files:
        pairs = [(r, lumi) for r, ls in f.lumis for lumi in ls]
        per_piece.update({(f.lfn, *p): n for p, n in zip(pairs, spread_events(f.events, len(pairs)), strict=True)})
    for job in jobs:
        assert job.events == sum(per_piece[k] for k in _lumi_pieces([job], files))


@settings(derandomize=True, max_examples=80, deadline=None)
@given(files=datasets(), lpj=st.integers(1, 9), mix=st.booleans())
def test_lumi_based_is_exact(files: list[InputFile], lpj: int, mix: bool) -> None:
    jobs = split_lumis(files, lpj, mix_runs=mix)
    _check_lumi_jobs(jobs, files, mix)
    assert all(1 <= sum(len(v) for v in j.lumis.values()) <= lpj for j in jobs)


@settings(derandomize=True, max_examples=80, deadline=None)
@given(files=datasets(), epj=st.integers(1, 600), mix=st.booleans())
def test_event_aware_lumi_based_is_exact_and_close_to_target(files: list[InputFile], epj: int, mix: bool) -> None:
    jobs = split_event_aware_lumis(files, epj, mix_runs=mix)
    _check_lumi_jobs(jobs, files, mix)
    for job in jobs:
        # A job above the target holds a single lumi (lumis are never split) or stopped at the
        # closest point: removing its last lumi would not be closer to the target.
        if job.events > epj and sum(len(v) for v in job.lumis.values()) > 1:
            last_run = max(job.lumis)
            assert job.events - epj <= epj, f"job {job.index} overshoots by more than the target"
            assert last_run in job.lumis


def test_splitters_are_deterministic() -> None:
    files = [InputFile(f"/store/x/{i}.root", 100 + i, lumis=((1, (2 * i + 1, 2 * i + 2)),)) for i in range(30)]
    shuffled = list(reversed(files))
    assert [j.inputs[0].lfn for j in split_lumis(files, 3)] == [j.inputs[0].lfn for j in split_lumis(shuffled, 3)]
    assert split_events(files, 77)[5].inputs[0].first_event == split_events(shuffled, 77)[5].inputs[0].first_event


def test_event_aware_never_splits_a_big_lumi() -> None:
    files = [InputFile("/store/a.root", 1000, lumis=((1, (1,)),)), InputFile("/store/b.root", 10, lumis=((1, (2,)),))]
    jobs = split_event_aware_lumis(files, 100)
    assert [j.events for j in jobs] == [1000, 10]


@settings(derandomize=True, max_examples=80, deadline=None)
@given(files=datasets(), epj=st.integers(1, 700))
def test_event_based_slices_name_the_lumis_they_read(files: list[InputFile], epj: int) -> None:
    jobs = split_events(files, epj)
    seen: dict[str, set[tuple[int, int]]] = {}
    for job in jobs:
        for s in job.inputs:
            assert s.lumis is not None
            pairs = {(r, lumi) for r, ls in s.lumis.items() for lumi in ls}
            seen.setdefault(s.lfn, set()).update(pairs)
            assert pairs <= {(r, lumi) for r, ls in job.lumis.items() for lumi in ls}
    for f in files:
        assert seen[f.lfn] == set(f.lumi_list()), "every lumi of every file is read by some job"


def test_lumi_slices_always_list_their_lumis() -> None:
    files = [InputFile("/store/a.root", 40, lumis=((1, (1, 2, 3, 4)),))]
    jobs = split_lumis(files, 10)
    assert jobs[0].inputs[0].lumis == {1: [1, 2, 3, 4]}
    jobs = split_events(files, 15)
    assert [j.inputs[0].lumis for j in jobs] == [{1: [1, 2]}, {1: [2, 3]}, {1: [4]}]
