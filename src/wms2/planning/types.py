"""Plain data passed between the planning stages (slotted dataclasses: cheap at 100,000 jobs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from wms2.domain.enums import InputFileState


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input file as the planner sees it (from ``input_files``; lumis already selected)."""

    lfn: str
    events: int
    size: int = 0
    lumis: tuple[tuple[int, tuple[int, ...]], ...] = ()  # ((run, (lumi, ...)), ...) sorted
    locations: tuple[str, ...] = ()  # disk replica sites, first = primary
    state: InputFileState = InputFileState.new

    @property
    def lumi_count(self) -> int:
        return sum(len(ls) for _, ls in self.lumis)

    def lumi_list(self) -> list[tuple[int, int]]:
        return [(run, lumi) for run, ls in self.lumis for lumi in ls]


@dataclass(slots=True)
class InputSlice:
    """The part of one input file a job reads."""

    lfn: str
    file_events: int
    first_event: int = 0  # 0-based, in the file
    max_events: int | None = None  # None = to the end of the file
    lumis: dict[int, list[int]] | None = None  # None = every lumi of the file

    @property
    def events(self) -> int:
        if self.max_events is None:
            return self.file_events - self.first_event
        return self.max_events


@dataclass(slots=True)
class Job:
    """One processing job of a round (never stored: it only lives until the files are written)."""

    index: int
    events: int
    first_event: int | None = None  # generation: 1-based first event number
    run: int | None = None
    lumis: dict[int, list[int]] = field(default_factory=dict)
    inputs: list[InputSlice] = field(default_factory=list)

    @property
    def node(self) -> str:
        return f"proc_{self.index:06d}"


@dataclass(slots=True)
class WorkUnit:
    index: int
    jobs: list[Job]
    sites: tuple[str, ...] = ()  # data-location constraint (disk replicas of every input); () = none

    @property
    def name(self) -> str:
        return f"mg_{self.index:06d}"

    @property
    def events(self) -> int:
        return sum(j.events for j in self.jobs)

    def input_lfns(self) -> list[str]:
        seen: dict[str, None] = {}
        for job in self.jobs:
            for s in job.inputs:
                seen.setdefault(s.lfn, None)
        return list(seen)


@dataclass(frozen=True, slots=True)
class BlockPlan:
    """One processing block: one output dataset of the round, holding all its WUs."""

    index: int
    dataset: str
    tier: str
    step: str
    work_units: tuple[str, ...]
