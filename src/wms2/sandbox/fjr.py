"""The one parser of CMSSW Framework Job Reports (FJR XML, cms-formats.md §6).

Used by the wrapper (per-step metrics), the POST script (exit status, bad input files) and the merge
job (metrics aggregation), and by ``wms2 fjr``.  One FJR describes one cmsRun step.

A corrupt or truncated report raises :class:`FjrParseError`, which carries the CMS exit code a job
gets for "cmsRun produced no valid job report" (50115, cms-formats.md §7) so callers can classify it.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from msgspec import field

from wms2.sandbox.contract import Contract

#: cms-formats.md §7: "cmsRun produced no valid job report (often a segfault)".
NO_VALID_REPORT_EXIT_CODE = 50115
#: cms-formats.md §7: "job did not produce an FJR".
NO_REPORT_EXIT_CODE = 195

_LFN_IN_TEXT = re.compile(r"(/store/[^\s'\"<>,;)\]]+)")


class FjrParseError(Exception):
    """The report exists but is not a readable FJR (truncated, not XML, wrong root element)."""

    exit_code = NO_VALID_REPORT_EXIT_CODE
    category = "transient"

    def __init__(self, path: str, message: str, line: int | None = None, column: int | None = None):
        self.path = path
        self.line = line
        self.column = column
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"unreadable framework job report {path}{where}: {message}")


class FjrInputFile(Contract, kw_only=True):
    lfn: str = ""
    pfn: str = ""
    module_label: str = ""
    input_type: str = "primaryFiles"
    input_source_class: str = ""
    events_read: int = 0
    runs: dict[str, list[int]] = field(default_factory=dict)


class FjrOutputFile(Contract, kw_only=True):
    lfn: str = ""
    pfn: str = ""
    module_label: str = ""
    guid: str = ""
    output_module_class: str = ""
    data_type: str = ""
    events: int = 0
    runs: dict[str, list[int]] = field(default_factory=dict)
    lumi_events: dict[str, dict[str, int]] = field(default_factory=dict)  # run -> lumi -> events (newer CMSSW)
    parents: list[str] = field(default_factory=list)  # parent LFNs (Inputs/Input/LFN)
    size: int | None = None  # bytes; not written by cmsRun, filled at stage-out
    checksums: dict[str, str] = field(default_factory=dict)


class FjrError(Contract, kw_only=True):
    exit_status: int
    type: str = ""
    message: str = ""


class FjrReport(Contract, kw_only=True):
    """What one FJR says about one step."""

    path: str = ""
    wall_s: float | None = None
    cpu_s: float | None = None
    threads: int | None = None
    streams: int | None = None
    peak_rss_mb: float | None = None
    peak_vsize_mb: float | None = None
    events_processed: int | None = None  # ProcessingSummary NumberEvents
    input_files: list[FjrInputFile] = field(default_factory=list)
    output_files: list[FjrOutputFile] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)
    fallback_files: list[str] = field(default_factory=list)
    errors: list[FjrError] = field(default_factory=list)
    performance: dict[str, dict[str, str]] = field(default_factory=dict)  # summary -> metric -> value

    @property
    def exit_code(self) -> int:
        """The first FrameworkError's exit status, 0 when the report has none."""
        return self.errors[0].exit_status if self.errors else 0

    @property
    def error_message(self) -> str:
        return self.errors[0].message if self.errors else ""

    @property
    def events_read(self) -> int:
        primary = [f.events_read for f in self.input_files if f.input_type == "primaryFiles"]
        if primary:
            return sum(primary)
        return self.events_processed or 0

    @property
    def events_written(self) -> int:
        """Events written by the busiest output module (each module sees the same events)."""
        return max((f.events for f in self.output_files), default=0)

    @property
    def cpu_efficiency(self) -> float | None:
        if not self.wall_s or self.cpu_s is None:
            return None
        return self.cpu_s / (self.wall_s * (self.threads or 1))

    def bad_input_lfns(self) -> list[str]:
        """Input LFNs a data error blames: named in the error text, else every primary input opened."""
        text = " ".join(e.message for e in self.errors)
        known = [f.lfn or f.pfn for f in self.input_files]
        named = [lfn for lfn in known if lfn and lfn in text]
        if not named:
            named = list(dict.fromkeys(m.group(1) for m in _LFN_IN_TEXT.finditer(text)))
        if not named:
            named = [f.lfn or f.pfn for f in self.input_files if f.input_type == "primaryFiles"]
        return [n for n in named if n]


def _text(elem: ET.Element | None, tag: str) -> str:
    if elem is None:
        return ""
    child = elem.find(tag)
    return (child.text or "").strip() if child is not None else ""


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(float(value)) if value not in (None, "") else default
    except ValueError:
        return default


def _float(value: str | None) -> float | None:
    try:
        result = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    if result is None or math.isnan(result) or math.isinf(result):
        return None
    return result


def _runs(elem: ET.Element) -> tuple[dict[str, list[int]], dict[str, dict[str, int]]]:
    runs: dict[str, list[int]] = {}
    counts: dict[str, dict[str, int]] = {}
    for run in elem.findall("./Runs/Run"):
        run_id = run.get("ID", "").strip()
        lumis = runs.setdefault(run_id, [])
        for lumi in run.findall("LumiSection"):
            lumi_id = _int(lumi.get("ID"))
            lumis.append(lumi_id)
            if lumi.get("NEvents") is not None:
                counts.setdefault(run_id, {})[str(lumi_id)] = _int(lumi.get("NEvents"))
        lumis.sort()
    return runs, counts


def _input_file(elem: ET.Element) -> FjrInputFile:
    runs, _ = _runs(elem)
    return FjrInputFile(
        lfn=_text(elem, "LFN"),
        pfn=_text(elem, "PFN"),
        module_label=_text(elem, "ModuleLabel"),
        input_type=_text(elem, "InputType") or "primaryFiles",
        input_source_class=_text(elem, "InputSourceClass"),
        events_read=_int(_text(elem, "EventsRead")),
        runs=runs,
    )


def _output_file(elem: ET.Element) -> FjrOutputFile:
    runs, counts = _runs(elem)
    size_text = _text(elem, "Size")
    checksums = {c.get("Type", "").strip(): (c.text or "").strip() for c in elem.findall("./Checksums/Checksum")}
    return FjrOutputFile(
        lfn=_text(elem, "LFN"),
        pfn=_text(elem, "PFN"),
        module_label=_text(elem, "ModuleLabel"),
        guid=_text(elem, "GUID"),
        output_module_class=_text(elem, "OutputModuleClass"),
        data_type=_text(elem, "DataType"),
        events=_int(_text(elem, "TotalEvents")),
        runs=runs,
        lumi_events=counts,
        parents=[_text(i, "LFN") or _text(i, "PFN") for i in elem.findall("./Inputs/Input")],
        size=_int(size_text) if size_text else None,
        checksums={k: v for k, v in checksums.items() if k},
    )


def _performance(root: ET.Element) -> dict[str, dict[str, str]]:
    perf: dict[str, dict[str, str]] = {}
    for report in root.findall("PerformanceReport"):
        for summary in report.findall("PerformanceSummary"):
            metrics = perf.setdefault(summary.get("Metric", ""), {})
            for metric in summary.findall("Metric"):
                metrics[metric.get("Name", "")] = metric.get("Value", "")
    return perf


def _fill_performance(report: FjrReport) -> None:
    timing = report.performance.get("Timing", {})
    memory = report.performance.get("ApplicationMemory", {})
    processing = report.performance.get("ProcessingSummary", {})
    report.wall_s = _float(timing.get("TotalJobTime"))
    cpu = _float(timing.get("TotalJobCPU"))
    if cpu is None and timing.get("TotalEventCPU") is not None:
        cpu = _float(timing.get("TotalEventCPU"))
    report.cpu_s = cpu
    threads = timing.get("NumberOfThreads")
    report.threads = _int(threads) if threads else None
    streams = timing.get("NumberOfStreams")
    report.streams = _int(streams) if streams else None
    report.peak_rss_mb = _float(memory.get("PeakValueRss"))
    report.peak_vsize_mb = _float(memory.get("PeakValueVsize"))
    if processing.get("NumberEvents") is not None:
        report.events_processed = _int(processing.get("NumberEvents"))


def parse_fjr_text(text: str | bytes, path: str = "<string>") -> FjrReport:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line, column = exc.position
        raise FjrParseError(path, str(exc), line, column) from exc
    if root.tag != "FrameworkJobReport":
        raise FjrParseError(path, f"root element is <{root.tag}>, expected <FrameworkJobReport>")
    report = FjrReport(path=path)
    report.input_files = [_input_file(e) for e in root.findall("InputFile")]
    report.output_files = [_output_file(e) for e in root.findall("File")]
    report.skipped_files = [e.get("Lfn") or e.get("Pfn") or "" for e in root.findall("SkippedFile")]
    report.fallback_files = [e.get("Lfn") or e.get("Pfn") or "" for e in root.findall("FallbackAttempt")]
    report.errors = [
        FjrError(
            exit_status=_int(e.get("ExitStatus"), default=8001),
            type=(e.get("Type") or "").strip(),
            message=(e.text or "").strip(),
        )
        for e in root.findall("FrameworkError")
    ]
    report.performance = _performance(root)
    _fill_performance(report)
    return report


def parse_fjr(path: str | Path) -> FjrReport:
    """Parse one FJR file.  Raises FileNotFoundError when missing, FjrParseError when unreadable."""
    p = Path(path)
    data = p.read_bytes()
    if not data.strip():
        raise FjrParseError(str(p), "file is empty")
    return parse_fjr_text(data, str(p))
