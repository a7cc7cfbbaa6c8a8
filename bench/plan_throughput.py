"""Planning throughput: plan and write an N-processing-node non-adaptive generation workflow.

Usage: ``python bench/plan_throughput.py --nodes 100000 [--dir DIR] [--keep]``.  Prints one JSON
object on its last line: nodes, seconds, nodes_per_second, files, bytes, peak_rss_mb (and the
total node count including landing/merge/cleanup).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from wms2.config import load_settings
from wms2.domain.reqmgr import import_request
from wms2.planning.params import PlanInputs, WorkflowState
from wms2.planning.render.writer import write_round
from wms2.planning.round import plan_round

EVENTS_PER_JOB = 1000


def bench_document(nodes: int) -> dict[str, object]:
    return {
        "RequestName": f"bench_plan_throughput_{nodes}",
        "RequestType": "MonteCarlo",
        "Requestor": "bench",
        "RequestPriority": 100000,
        "WMS2Adaptive": False,
        "RequestNumEvents": nodes * EVENTS_PER_JOB,
        "EventsPerJob": EVENTS_PER_JOB,
        "Memory": 2000,
        "Multicore": 1,
        "TimePerEvent": 1.0,
        "SizePerEvent": 100.0,
        "PrimaryDataset": "BenchPrimary",
        "AcquisitionEra": "BenchEra",
        "ProcessingString": "Bench",
        "ProcessingVersion": 1,
        "SiteWhitelist": ["T2_CH_CERN", "T1_US_FNAL"],
        "CMSSWVersion": "CMSSW_14_0_0",
        "ScramArch": "el9_amd64_gcc12",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=100_000, help="processing nodes")
    parser.add_argument("--dir", type=Path, default=None, help="WMS2 home to write into (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the written round")
    args = parser.parse_args()
    home = args.dir or Path(tempfile.mkdtemp(prefix="wms2-bench-"))
    settings = load_settings(home)
    spec = import_request(bench_document(args.nodes))
    try:  # the round's sandbox copy is part of writing a round (a fixed cost per round)
        from wms2.sandbox.ship import install_sandbox
    except ImportError:
        install_sandbox = None
    start = time.perf_counter()
    plan = plan_round(PlanInputs(spec, WorkflowState("1"), settings.planning, settings.resources))
    result = write_round(plan, spec, "1", settings, install_sandbox=install_sandbox)
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    processing = len(plan.jobs)
    if not args.keep:
        shutil.rmtree(result.submit_dir.parent, ignore_errors=True)
        if args.dir is None:
            shutil.rmtree(home, ignore_errors=True)
    report = {
        "nodes": processing,
        "total_nodes": plan.total_nodes,
        "work_units": len(plan.work_units),
        "seconds": round(seconds, 3),
        "nodes_per_second": round(processing / seconds, 1) if seconds > 0 else None,
        "files": result.files,
        "bytes": result.bytes,
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "sandbox": install_sandbox is not None,
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
