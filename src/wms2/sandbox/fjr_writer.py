"""Write a Framework Job Report in the cmsRun XML schema (cms-formats.md §6).

The simulator writes its report with this module so that the wrapper, the POST script and the merge
job read simulated and real cmsRun steps through the same parser (:mod:`wms2.sandbox.fjr`).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from wms2.sandbox.fjr import FjrInputFile, FjrOutputFile, FjrReport


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    elem = ET.SubElement(parent, tag, attrs)
    if text is not None:
        elem.text = text
    return elem


def _runs(parent: ET.Element, runs: dict[str, list[int]], counts: dict[str, dict[str, int]]) -> None:
    runs_elem = _sub(parent, "Runs")
    for run_id, lumis in sorted(runs.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0):
        run_elem = _sub(runs_elem, "Run", ID=str(run_id))
        for lumi in lumis:
            attrs = {"ID": str(lumi)}
            n = counts.get(run_id, {}).get(str(lumi))
            if n is not None:
                attrs["NEvents"] = str(n)
            _sub(run_elem, "LumiSection", **attrs)


def _input(root: ET.Element, f: FjrInputFile) -> None:
    elem = _sub(root, "InputFile")
    _sub(elem, "State", Value="closed")
    _sub(elem, "LFN", f.lfn)
    _sub(elem, "PFN", f.pfn)
    _sub(elem, "Catalog", "")
    _sub(elem, "ModuleLabel", f.module_label or "source")
    _sub(elem, "GUID", "")
    _sub(elem, "Branches")
    _sub(elem, "InputType", f.input_type)
    _sub(elem, "InputSourceClass", f.input_source_class or "PoolSource")
    _sub(elem, "EventsRead", str(f.events_read))
    _runs(elem, f.runs, {})


def _output(root: ET.Element, f: FjrOutputFile) -> None:
    elem = _sub(root, "File")
    _sub(elem, "State", Value="closed")
    _sub(elem, "LFN", f.lfn)
    _sub(elem, "PFN", f.pfn)
    _sub(elem, "Catalog", "")
    _sub(elem, "ModuleLabel", f.module_label)
    _sub(elem, "GUID", f.guid)
    _sub(elem, "Branches")
    _sub(elem, "OutputModuleClass", f.output_module_class or "PoolOutputModule")
    _sub(elem, "TotalEvents", str(f.events))
    _sub(elem, "DataType", f.data_type)
    _sub(elem, "BranchHash", "")
    _runs(elem, f.runs, f.lumi_events)
    inputs = _sub(elem, "Inputs")
    for parent in f.parents:
        inp = _sub(inputs, "Input")
        _sub(inp, "LFN", parent)
        _sub(inp, "PFN", "")
    if f.size is not None:
        _sub(elem, "Size", str(f.size))
    if f.checksums:
        sums = _sub(elem, "Checksums")
        for kind, value in f.checksums.items():
            _sub(sums, "Checksum", value, Type=kind)


def build_fjr(report: FjrReport) -> ET.Element:
    root = ET.Element("FrameworkJobReport")
    for f in report.input_files:
        _input(root, f)
    for f in report.output_files:
        _output(root, f)
    for lfn in report.skipped_files:
        _sub(root, "SkippedFile", Pfn="", Lfn=lfn)
    for lfn in report.fallback_files:
        _sub(root, "FallbackAttempt", Pfn="", Lfn=lfn)
    _sub(root, "ReadBranches")
    for summary, metrics in report.performance.items():
        perf = _sub(root, "PerformanceReport")
        summ = _sub(perf, "PerformanceSummary", Metric=summary)
        for name, value in sorted(metrics.items()):
            _sub(summ, "Metric", Name=name, Value=value)
    for err in report.errors:
        _sub(root, "FrameworkError", "\n" + err.message + "\n", ExitStatus=str(err.exit_status), Type=err.type)
    return root


def write_fjr(report: FjrReport, path: str | Path) -> Path:
    """Write ``report`` as FJR XML atomically (a reader never sees half a report)."""
    target = Path(path)
    root = build_fjr(report)
    ET.indent(root)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(b"<?xml version='1.0' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="utf-8") + b"\n")
    os.replace(tmp, target)
    return target


def performance_sections(
    *,
    wall_s: float,
    cpu_s: float,
    threads: int,
    peak_rss_mb: float,
    peak_vsize_mb: float,
    events: int,
    read_mb: float,
    write_mb: float,
) -> dict[str, dict[str, str]]:
    """The PerformanceSummary sections cmsRun writes, with the metric names of recent releases."""
    per_event = wall_s / events if events else 0.0
    return {
        "Timing": {
            "TotalJobTime": f"{wall_s:.6g}",
            "TotalJobCPU": f"{cpu_s:.6g}",
            "TotalJobChildrenCPU": "0",
            "TotalLoopTime": f"{wall_s:.6g}",
            "TotalLoopCPU": f"{cpu_s:.6g}",
            "AvgEventTime": f"{per_event:.6g}",
            "EventThroughput": f"{(events / wall_s if wall_s else 0.0):.6g}",
            "NumberOfThreads": str(threads),
            "NumberOfStreams": str(threads),
        },
        "ApplicationMemory": {
            "PeakValueRss": f"{peak_rss_mb:.6g}",
            "PeakValueVsize": f"{peak_vsize_mb:.6g}",
        },
        "ProcessingSummary": {
            "NumberEvents": str(events),
            "NumberBeginRunCalls": "1" if events else "0",
            "NumberBeginLumiCalls": "1" if events else "0",
        },
        "StorageStatistics": {
            "ROOT-tfile-read-totalMegabytes": f"{read_mb:.6g}",
            "ROOT-tfile-write-totalMegabytes": f"{write_mb:.6g}",
        },
    }
