"""Cut a round's jobs into work units (merge groups) of consecutive jobs (design §7.2)."""

from __future__ import annotations

from collections.abc import Sequence

from wms2.planning.types import Job, WorkUnit


def cut_work_units(jobs: Sequence[Job], per_group: int, first_index: int = 0) -> list[WorkUnit]:
    """Consecutive jobs, ``per_group`` per WU; the last WU takes the remainder."""
    if per_group < 1:
        raise ValueError(f"jobs_per_group must be >= 1, got {per_group}")
    return [WorkUnit(first_index + i, list(jobs[start:start + per_group]))
            for i, start in enumerate(range(0, len(jobs), per_group))]


def limit_jobs_to_file_boundary(jobs: Sequence[Job], limit: int | None) -> list[Job]:
    """The first ``limit`` jobs, extended so that no input file is shared with a job left out.

    Input bookkeeping is per file (``input_files.state``), so a round must end on a file boundary;
    generation jobs have no inputs and are cut exactly at ``limit``.
    """
    if limit is None or limit >= len(jobs):
        return list(jobs)
    last_use: dict[str, int] = {}
    for i, job in enumerate(jobs):
        for s in job.inputs:
            last_use[s.lfn] = i
    end = limit  # exclusive
    i = 0
    while i < end:
        for s in jobs[i].inputs:
            end = max(end, last_use[s.lfn] + 1)
        i += 1
    return list(jobs[:end])
