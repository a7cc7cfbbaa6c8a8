"""The validation report: what ``wms2 validate --json``, the API and the HTML page show.

JSON contract (outside checks rely on it): ``{"verdict": "identical"|"compatible"|"different",
"branches": [{"name": ..., "verdict": ..., "ks_p": ...}, ...]}``, branches worst first.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, Field

Verdict = Literal["identical", "compatible", "different"]
Side = Literal["ref", "new"]
#: Order of badness (sorting, overall verdict).
VERDICT_RANK: dict[str, int] = {"different": 0, "compatible": 1, "identical": 2}


class ValidationError(ValueError):
    """The inputs cannot be compared (no files, unreadable file, inconsistent schema...)."""


def finite(value: float | None) -> float | None:
    """JSON has no NaN/inf: undefined or infinite statistics become ``None`` (+/-inf pulls: a huge number)."""
    if value is None or math.isnan(value):
        return None
    if math.isinf(value):
        return math.copysign(1e300, value)
    return float(value)


class SideStats(BaseModel):
    values: int = Field(description="finite values (entries x multiplicity)")
    nan: int = 0
    posinf: int = 0
    neginf: int = 0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None


class Histogram(BaseModel):
    """The common equal-content bins (chi2 test, plot): edges and each side's counts."""

    edges: list[float]
    ref: list[int]
    new: list[int]


class BranchResult(BaseModel):
    name: str = Field(description="branch name inside its tree")
    tree: str
    group: str = Field(description="output tier for requests, 'files' for file lists")
    verdict: Verdict
    only_in: Side | None = Field(None, description="branch present on this side only")
    ks_d: float | None = None
    ks_p: float | None = None
    chi2: float | None = None
    chi2_ndf: int | None = None
    chi2_p: float | None = None
    mean_z: float | None = None
    width_z: float | None = None
    count_z: float | None = None
    nonfinite_z: float | None = None
    ref: SideStats | None = None
    new: SideStats | None = None
    problems: list[str] = Field(default_factory=list, description="why the verdict is 'different'")
    histogram: Histogram | None = None

    def sort_key(self) -> tuple[int, float, float]:
        p = min(x for x in (self.ks_p, self.chi2_p, 1.0) if x is not None)
        pulls = [abs(z) for z in (self.mean_z, self.width_z, self.count_z, self.nonfinite_z) if z is not None]
        return VERDICT_RANK[self.verdict], p, -max(pulls, default=0.0)


class TreeResult(BaseModel):
    name: str
    group: str
    verdict: Verdict
    only_in: Side | None = None
    ref_entries: int | None = None
    new_entries: int | None = None
    entries_z: float | None = None
    problems: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list, description="non-numeric branches, not compared")


class Thresholds(BaseModel):
    ks_p_min: float
    chi2_p_min: float
    z_max: float


class Resources(BaseModel):
    files: int
    bytes: int = Field(description="bytes of the ROOT files of both sides")
    seconds: float
    bytes_per_second: float
    workers: int
    parent_peak_rss_mb: float
    worker_peak_rss_mb: float = Field(description="largest peak RSS of one worker process")
    scan_cpu_seconds: float = Field(0.0, description="CPU time of the data pass, all workers")


class ValidationResult(BaseModel):
    verdict: Verdict
    ref: str = Field(description="what was compared: request name or file description")
    new: str
    branches: list[BranchResult]
    trees: list[TreeResult]
    counts: dict[str, int] = Field(description="branches per verdict")
    thresholds: Thresholds
    resources: Resources | None = None
    method: str = Field(
        "binned two-pass: KS on common fine bins (asymptotic Kolmogorov p), chi2 on equal-content bins",
        description="how the tests were computed (see docs/design-notes/validation.md)",
    )


def overall(verdicts: list[str]) -> Verdict:
    if not verdicts:
        return "identical"
    worst = min(verdicts, key=lambda v: VERDICT_RANK[v])
    return worst  # type: ignore[return-value]
