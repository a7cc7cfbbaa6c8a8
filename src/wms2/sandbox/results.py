"""Files the worker-node code leaves in the work-unit directory, read back by WMS2.

``merge_output.json``, ``work_unit_metrics.json``, ``<node>.post.json`` and ``elected_site``.
The DAG monitor, the output manager and the error handler read these with the models below.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from wms2.sandbox.filenames import ELECTED_SITE_FILE as ELECTED_SITE_FILE
from wms2.sandbox.filenames import MERGE_OUTPUT_FILE as MERGE_OUTPUT_FILE
from wms2.sandbox.filenames import POST_SUFFIX as POST_SUFFIX
from wms2.sandbox.filenames import WORK_UNIT_METRICS_FILE as WORK_UNIT_METRICS_FILE


class MergedFile(BaseModel):
    dataset: str
    tier: str
    lfn: str
    pfn: str | None = None
    size: int = Field(ge=0)
    adler32: str = Field(pattern=r"^[0-9a-f]{8}$")
    events: int = Field(ge=0)
    lumis: dict[str, list[int]] = Field(default_factory=dict, description="run -> lumi numbers")
    event_ranges: list[tuple[int, int]] = Field(
        default_factory=list, description="generation: inclusive [first, last] event ranges covered"
    )
    input_lfns: list[str] = Field(default_factory=list, description="parent (input) LFNs")
    site: str | None = None
    merged: bool = Field(True, description="False when the file was copied as-is (oversized)")


class MergeOutput(BaseModel):
    work_unit: str
    site: str | None = None
    files: list[MergedFile] = Field(default_factory=list)
    processed_input_lfns: list[str] = Field(default_factory=list)


class MetricStat(BaseModel):
    median: float
    min: float
    max: float


class StepMetricsSummary(BaseModel):
    step: str
    jobs_sampled: int = Field(ge=0)
    threads: int = Field(1, ge=1)
    metrics: dict[str, MetricStat] = Field(
        default_factory=dict,
        description=(
            "wall_s, cpu_s, cpu_efficiency, peak_rss_mb, events_read, events_written,"
            " wall_per_event_s, bytes_written_<TIER>, bytes_per_event_<TIER>"
        ),
    )


class WorkUnitMetrics(BaseModel):
    work_unit: str
    jobs_sampled: int = Field(ge=0)
    site: str | None = None
    steps: list[StepMetricsSummary] = Field(default_factory=list)


class PostJobInfo(BaseModel):
    exit_code: int | None = None
    signal: int | None = None
    wall_s: float | None = None
    cpu_s: float | None = None
    peak_memory_mb: float | None = None
    site: str | None = None


class PostClassification(BaseModel):
    category: Literal["success", "permanent", "data", "memory", "infrastructure", "transient", "catastrophic"]
    retryable: bool
    bad_input_files: list[str] = Field(default_factory=list)
    action: str = ""
    memory_bumped_to: int | None = None


class PostResult(BaseModel):
    node: str
    role: str
    work_unit: str | None = None
    timestamp: float
    attempt: int = Field(ge=0)
    max_retries: int = Field(ge=0)
    final: bool
    exit_code: int = Field(description="the overall code: CMSSW exit status when non-zero, else job exit")
    post_exit: int = Field(description="0 success, 1 retry, 42 permanent, 43 abort the WU")
    job: PostJobInfo = Field(default_factory=PostJobInfo)
    cmssw: dict = Field(default_factory=dict)
    classification: PostClassification
    message: str = ""
    log_tail: list[str] = Field(default_factory=list)
