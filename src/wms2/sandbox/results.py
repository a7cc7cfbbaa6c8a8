"""Files the worker-node code leaves in the work-unit directory, read back by WMS2.

``merge_output.json``, ``work_unit_metrics.json``, ``<node>.post.json`` and ``elected_site``.
The DAG monitor, the output manager and the error handler read these with the models below
(msgspec Structs, :mod:`wms2.sandbox.contract`; unknown fields are ignored, as they always were).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, field

from wms2.sandbox.contract import Contract
from wms2.sandbox.filenames import ELECTED_SITE_FILE as ELECTED_SITE_FILE
from wms2.sandbox.filenames import MERGE_OUTPUT_FILE as MERGE_OUTPUT_FILE
from wms2.sandbox.filenames import POST_SUFFIX as POST_SUFFIX
from wms2.sandbox.filenames import WORK_UNIT_METRICS_FILE as WORK_UNIT_METRICS_FILE

NonNegInt = Annotated[int, Meta(ge=0)]


class MergedFile(Contract, kw_only=True):
    dataset: str
    tier: str
    lfn: str
    pfn: str | None = None
    size: NonNegInt
    adler32: Annotated[str, Meta(pattern=r"^[0-9a-f]{8}$")]
    events: NonNegInt
    lumis: dict[str, list[int]] = field(default_factory=dict)  # run -> lumi numbers
    event_ranges: list[tuple[int, int]] = field(default_factory=list)  # generation: inclusive [first, last]
    input_lfns: list[str] = field(default_factory=list)  # parent (input) LFNs
    site: str | None = None
    merged: bool = True  # False when the file was copied as-is (oversized)


class MergeOutput(Contract, kw_only=True):
    work_unit: str
    site: str | None = None
    files: list[MergedFile] = field(default_factory=list)
    processed_input_lfns: list[str] = field(default_factory=list)


class MetricStat(Contract, kw_only=True):
    median: float
    min: float
    max: float


class StepMetricsSummary(Contract, kw_only=True):
    step: str
    jobs_sampled: NonNegInt
    threads: Annotated[int, Meta(ge=1)] = 1
    #: wall_s, cpu_s, cpu_efficiency, peak_rss_mb, events_read, events_written, wall_per_event_s,
    #: bytes_written_<TIER>, bytes_per_event_<TIER>
    metrics: dict[str, MetricStat] = field(default_factory=dict)


class WorkUnitMetrics(Contract, kw_only=True):
    work_unit: str
    jobs_sampled: NonNegInt
    site: str | None = None
    steps: list[StepMetricsSummary] = field(default_factory=list)


class PostJobInfo(Contract, kw_only=True):
    exit_code: int | None = None
    signal: int | None = None
    wall_s: float | None = None
    cpu_s: float | None = None
    peak_memory_mb: float | None = None
    site: str | None = None


class PostClassification(Contract, kw_only=True):
    category: Literal["success", "permanent", "data", "memory", "infrastructure", "transient", "catastrophic"]
    retryable: bool
    bad_input_files: list[str] = field(default_factory=list)
    action: str = ""
    memory_bumped_to: int | None = None


class PostResult(Contract, kw_only=True):
    node: str
    role: str
    work_unit: str | None = None
    timestamp: float
    attempt: NonNegInt
    max_retries: NonNegInt
    final: bool
    exit_code: int  # the overall code: CMSSW exit status when non-zero, else job exit
    post_exit: int  # 0 success, 1 retry, 42 permanent, 43 abort the WU
    job: PostJobInfo = field(default_factory=PostJobInfo)
    cmssw: dict[str, Any] = field(default_factory=dict)
    classification: PostClassification
    message: str = ""
    log_tail: list[str] = field(default_factory=list)
