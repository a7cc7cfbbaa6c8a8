"""The POST script (``wms2-job post NODE RETURN RETRY MAX_RETRIES``), design §6.5, cms-formats §9.

Reads the job's exit (DAGMan ``$RETURN``: ``-N`` = killed by signal N), the wrapper's report and FJRs
and the log tail; classifies the attempt; writes ``<node>.post.json``; and exits 0 (success), 1
(retry), 42 (permanent: no more retries) or 43 (abort the work unit's sub-DAG).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from wms2.sandbox.classify import Verdict, classify
from wms2.sandbox.exitcodes import (
    NO_REPORT,
    POST_ABORT_WU,
    POST_PERMANENT,
    POST_RETRY,
    POST_SUCCESS,
    signal_exit_code,
)
from wms2.sandbox.landing import elect_site
from wms2.sandbox.manifest import PostSpec, WorkUnitManifest
from wms2.sandbox.report import JobReport
from wms2.sandbox.results import (
    ELECTED_SITE_FILE,
    POST_SUFFIX,
    PostClassification,
    PostJobInfo,
    PostResult,
)
from wms2.sandbox.submitfile import (
    current_request_memory,
    read_overrides,
    request_cpus,
    role_of,
    write_atomic,
    write_overrides,
)
from wms2.sandbox.userlog import reason_code, removal_reason

MANIFEST_FILE = "manifest.json"
#: Lines of the job's stderr kept in the side file (cms-formats §9: "the last ~200 lines").
LOG_TAIL_LINES = 200
#: DAGMan $RETURN values below this are not job exits (-1001 submit failed, -1002 removed, ...).
DAGMAN_SPECIAL_RETURN = -1000
#: DAGMan $RETURN of a job removed by something other than DAGMan (periodic_remove, operator).
DAGMAN_REMOVED = -1002
#: cms-formats §7: "job failed and the original report was lost" (removed, submit failure, ...).
REPORT_LOST = 99303


def log_tail(wudir: Path, node: str, lines: int = LOG_TAIL_LINES) -> list[str]:
    for suffix in (".err", ".out"):
        path = wudir / f"{node}{suffix}"
        if path.exists() and path.stat().st_size:
            return path.read_text(errors="replace").splitlines()[-lines:]
    return []


def job_exit(ret: int) -> tuple[int, int | None]:
    """(exit code, signal) of the job from DAGMan's $RETURN."""
    if ret <= DAGMAN_SPECIAL_RETURN:
        return REPORT_LOST, None
    if ret < 0:
        return signal_exit_code(-ret), -ret
    return ret, None


def cooloff_seconds(post: PostSpec, retry: int) -> float:
    return min(post.cooloff_base_s * (2**retry), post.cooloff_max_s)


def _cmssw_details(wudir: Path, report: JobReport | None) -> dict:
    if report is None:
        return {}
    details: dict = {
        "exit_code": report.exit_code,
        "failed_step": report.failed_step,
        "error_message": report.error_message[-2000:],
        "steps": [{"name": s.name, "status": s.status, "exit_code": s.exit_code} for s in report.steps],
        "input_files": report.input_lfns,
        "output_files": [o.lfn for o in report.outputs],
        "performance": {s.name: s.metrics.model_dump() for s in report.steps},
    }
    for step in report.steps:
        if step.fjr and step.exit_code and (wudir / step.fjr).exists():
            from wms2.sandbox.fjr import FjrParseError, parse_fjr  # deferred: only failed steps' FJRs are read

            try:
                fjr = parse_fjr(wudir / step.fjr)
            except FjrParseError as exc:
                details["fjr_error"] = str(exc)
                continue
            details["fjr_errors"] = [e.model_dump() for e in fjr.errors]
    return details


def _bad_inputs(wudir: Path, report: JobReport | None) -> list[str]:
    if report is None:
        return []
    if report.bad_input_files:
        return report.bad_input_files
    for step in report.steps:
        if step.exit_code and step.fjr and (wudir / step.fjr).exists():
            from wms2.sandbox.fjr import FjrParseError, parse_fjr  # deferred: only failed steps' FJRs are read

            try:
                return parse_fjr(wudir / step.fjr).bad_input_lfns()
            except FjrParseError:
                return []
    return []


class PostScript:
    def __init__(self, node: str, ret: int, retry: int, max_retries: int, wudir: Path):
        self.node, self.ret, self.retry, self.max_retries, self.wudir = node, ret, retry, max_retries, wudir
        self.role = role_of(node)
        manifest_path = wudir / MANIFEST_FILE
        self.manifest = WorkUnitManifest.load(manifest_path) if manifest_path.exists() else None
        self.post = self.manifest.post if self.manifest else PostSpec()
        self.report = JobReport.read(wudir, node)
        self.removed_reason = removal_reason(wudir, node) if ret == DAGMAN_REMOVED else None

    def overall_code(self) -> tuple[int, int, int | None]:
        code, sig = job_exit(self.ret)
        if self.removed_reason is not None:
            code = reason_code(self.removed_reason) or code
        cmssw = self.report.exit_code if self.report else 0
        if self.role == "proc" and code == 0 and self.report is None:
            cmssw = NO_REPORT
        return (cmssw or code), code, sig

    def _memory(self, result: PostResult) -> None:
        current = current_request_memory(self.wudir, self.node)
        ceiling = self.post.max_memory_per_core_mb * request_cpus(self.wudir, self.node)
        c = result.classification
        if current is None:
            c.action = "memory failure; request_memory unknown, retrying unchanged"
            return
        if current >= ceiling:
            c.retryable = False
            c.action = f"request_memory {current:.0f} MB is at the ceiling {ceiling} MB: permanent"
            return
        bumped = min(math.ceil(current * self.post.memory_bump_factor), ceiling)
        overrides = read_overrides(self.wudir, self.node)
        overrides["request_memory"] = bumped
        write_overrides(self.wudir, self.node, overrides)
        c.memory_bumped_to = bumped
        c.action = f"request_memory {current:.0f} -> {bumped} MB for the next attempt"

    def _catastrophic(self, exit_code: int) -> bool:
        if self.role != "proc" or self.manifest is None:
            return False
        siblings = [j.node for j in self.manifest.jobs]
        needed = min(len(siblings), self.post.catastrophic_siblings)
        same = 1
        for node in siblings:
            if node == self.node:
                continue
            path = self.wudir / f"{node}{POST_SUFFIX}"
            if not path.exists():
                continue
            other = PostResult.model_validate_json(path.read_text())
            if other.final and other.classification.category != "success" and other.exit_code == exit_code:
                same += 1
        return same >= needed

    def classify(self) -> PostResult:
        overall, code, sig = self.overall_code()
        tail = log_tail(self.wudir, self.node)
        message = self.report.error_message if self.report else ""
        if self.removed_reason is not None:
            message = f"job removed: {self.removed_reason}"
            tail = [*tail, message]
        verdict: Verdict = classify(overall, message, "\n".join(tail))
        site_file = self.wudir / ELECTED_SITE_FILE
        site = self.report.site if self.report and self.report.site else None
        if site is None and site_file.exists():
            site = site_file.read_text().strip()
        steps = self.report.steps if self.report else []
        job = PostJobInfo(
            exit_code=code,
            signal=sig,
            wall_s=self.report.wall_s if self.report else None,
            cpu_s=sum(s.metrics.cpu_s for s in steps) if steps else None,
            peak_memory_mb=max((s.metrics.peak_rss_mb for s in steps), default=None),
            site=site,
        )
        classification = PostClassification(category=verdict.category, retryable=verdict.retryable)
        result = PostResult(
            node=self.node,
            role=self.role,
            work_unit=self.manifest.work_unit if self.manifest else None,
            timestamp=time.time(),
            attempt=self.retry,
            max_retries=self.max_retries,
            final=True,
            exit_code=overall,
            post_exit=POST_SUCCESS,
            job=job,
            cmssw=_cmssw_details(self.wudir, self.report),
            classification=classification,
            message=message[-2000:],
            log_tail=tail,
        )
        if verdict.category == "data":
            classification.bad_input_files = _bad_inputs(self.wudir, self.report)
            classification.action = "bad input files recorded; no more retries"
        if verdict.category == "memory":
            self._memory(result)
        return result

    def decide(self, result: PostResult) -> PostResult:
        c = result.classification
        if c.category == "success":
            result.final, result.post_exit = True, POST_SUCCESS
            return result
        result.final = not c.retryable or self.retry >= self.max_retries
        result.post_exit = POST_RETRY if c.retryable else POST_PERMANENT
        if result.final and self._catastrophic(result.exit_code):
            c.category, c.retryable, result.post_exit = "catastrophic", False, POST_ABORT_WU
            abort = (
                f"exit code {result.exit_code} on min(N, {self.post.catastrophic_siblings}) sibling"
                " processing nodes: aborting the work unit"
            )
            c.action = f"{c.action}; {abort}" if c.action else abort
        elif c.retryable and not result.final and c.category in ("transient", "infrastructure"):
            wait = cooloff_seconds(self.post, self.retry)
            c.action = c.action or f"retry after a cool-off of {wait:.0f} s"
            time.sleep(wait)
        return result

    def _retire_report(self, result: PostResult) -> None:
        """A failed attempt's report is renamed so that the next attempt never reads it as its own."""
        path = JobReport.path_for(self.wudir, self.node)
        if result.classification.category != "success" and path.exists():
            path.rename(path.with_name(f"{self.node}.report.{self.retry}.json"))

    def run(self) -> int:
        result = self.decide(self.classify())
        if self.role == "landing" and result.classification.category == "success":
            site = elect_site(self.wudir)
            if site is None:
                result.classification = PostClassification(
                    category="infrastructure",
                    retryable=True,
                    action="landing.out names no valid GLIDEIN_CMSSite; retrying the landing job",
                )
                result.final = self.retry >= self.max_retries
                result.post_exit = POST_RETRY
            else:
                result.job.site = site
                result.classification.action = f"elected site {site}"
        write_atomic(self.wudir / f"{self.node}{POST_SUFFIX}", result.model_dump_json(indent=1))
        self._retire_report(result)
        return result.post_exit


def run_post(node: str, ret: str, retry: str, max_retries: str, wudir: Path | None = None) -> int:
    return PostScript(node, int(ret), int(retry), int(max_retries), wudir or Path.cwd()).run()
