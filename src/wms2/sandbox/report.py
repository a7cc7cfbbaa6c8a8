"""``<node>.report.json``: what the wrapper leaves for the POST script and the merge job.

One per processing node attempt (overwritten by the next attempt), written in the job's working
directory next to the step FJRs (``<node>.<step>.fjr.xml``); both come back to the work-unit directory
(shared filesystem or HTCondor output transfer).
"""

from __future__ import annotations

import os
from pathlib import Path

from msgspec import field

from wms2.sandbox.contract import Contract

REPORT_SUFFIX = ".report.json"


class StepMetrics(Contract, kw_only=True):
    wall_s: float = 0.0
    cpu_s: float = 0.0
    cpu_efficiency: float = 0.0
    peak_rss_mb: float = 0.0
    events_read: int = 0
    events_written: int = 0
    threads: int = 1
    bytes_written: dict[str, int] = field(default_factory=dict)  # tier -> bytes


class StagedOutput(Contract, kw_only=True):
    step: str
    module: str
    tier: str
    dataset: str
    lfn: str
    pfn: str
    size: int
    adler32: str
    events: int
    lumis: dict[str, list[int]] = field(default_factory=dict)
    parents: list[str] = field(default_factory=list)


class StepResult(Contract, kw_only=True):
    name: str
    index: int
    kind: str
    exit_code: int = 0
    status: str = "success"
    fjr: str | None = None  # file name of the step's FJR copy, relative to the report
    error_type: str = ""
    error_message: str = ""
    metrics: StepMetrics = field(default_factory=StepMetrics)
    input_lfns: list[str] = field(default_factory=list)


class JobReport(Contract, kw_only=True):
    node: str
    work_unit: str
    attempt: int = 0
    site: str | None = None
    exit_code: int = 0
    failed_step: str | None = None
    error_message: str = ""
    bad_input_files: list[str] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    outputs: list[StagedOutput] = field(default_factory=list)
    input_lfns: list[str] = field(default_factory=list)
    event_range: tuple[int, int] | None = None  # generation: inclusive first, last event
    wall_s: float = 0.0

    @staticmethod
    def path_for(directory: str | Path, node: str) -> Path:
        return Path(directory) / f"{node}{REPORT_SUFFIX}"

    def write(self, directory: str | Path) -> Path:
        target = self.path_for(directory, self.node)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(self.model_dump_json(indent=1))
        os.replace(tmp, target)
        return target

    @classmethod
    def read(cls, directory: str | Path, node: str) -> JobReport | None:
        path = cls.path_for(directory, node)
        if not path.exists():
            return None
        return cls.model_validate_json(path.read_text())
