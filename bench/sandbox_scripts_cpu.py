"""CPU of real worker-node script runs (PRE, POST, landing, job wrapper, cleanup), own process only.

Each case runs ``wms2.sandbox.cli`` with real arguments in a copy of a finished work-unit directory
(as ``tests/sandbox/test_workunit.py`` leaves it), through a small driver that records the process's
own ``getrusage(RUSAGE_SELF)`` (user + system) at exit: the payload a job wrapper starts is not counted.
Several source trees can be compared at the same time: the runs are interleaved, so machine load
affects them alike.  The median of the runs is reported per tree and case.

Usage: ``python bench/sandbox_scripts_cpu.py --wu TEMPLATE_DIR [--repeat N] SRC [SRC ...]``, where
TEMPLATE_DIR is a test's ``tmp_path`` (holding ``mg_000000/``, ``machine.ad``, ``proc_000000.jobad``)
and each SRC a ``src`` directory holding ``wms2/sandbox``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

#: Runs the dispatcher as ``python -m`` would and writes its own CPU seconds to $BENCH_CPU_OUT at exit.
DRIVER = (
    "import atexit, os, resource, runpy, sys\n"
    "def _out():\n"
    "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    open(os.environ['BENCH_CPU_OUT'], 'w').write(repr(r.ru_utime + r.ru_stime))\n"
    "atexit.register(_out)\n"
    "runpy.run_module('wms2.sandbox.cli', run_name='__main__', alter_sys=True)\n"
)

#: label -> arguments of wms2-job (the failure case restores a failed report of proc_000001 first)
CASES: dict[str, list[str]] = {
    "pre": ["pre", "proc_000001"],
    "post landing": ["post", "landing", "0", "0", "3"],
    "post proc success": ["post", "proc_000000", "0", "0", "3"],
    "post proc failure": ["post", "proc_000001", "85", "3", "3"],
    "land": ["land"],
    "run": ["run", "--manifest", "manifest.json", "--node", "proc_000000"],
    "cleanup": ["cleanup", "--manifest", "manifest.json"],
}


def _prepare(template: Path, src: Path, root: Path) -> Path:
    shutil.copytree(template / "mg_000000", root / "mg_000000")
    shutil.copytree(src / "wms2" / "sandbox", root / "sandbox" / "wms2" / "sandbox",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "sandbox" / "wms2" / "__init__.py").write_text("")
    wudir = root / "mg_000000"
    failed = wudir / "proc_000001.report.json"
    report = json.loads(failed.read_text())
    report.update(exit_code=8021, failed_step=report["steps"][0]["name"], error_message="read failure")
    report["steps"][0].update(exit_code=8021, status="failed")
    (root / "failed.report.json").write_text(json.dumps(report))
    return wudir


def _run_once(root: Path, template: Path, label: str) -> float:
    wudir = root / "mg_000000"
    if label == "post proc failure":
        shutil.copyfile(root / "failed.report.json", wudir / "proc_000001.report.json")
        (wudir / "proc_000001.post.json").unlink(missing_ok=True)
    out = root / "cpu.out"
    env = dict(os.environ, PYTHONPATH=str(root / "sandbox"), BENCH_CPU_OUT=str(out),
               _CONDOR_MACHINE_AD=str(template / "machine.ad"), _CONDOR_JOB_AD=str(template / "proc_000000.jobad"))
    subprocess.run([sys.executable, "-c", DRIVER, *CASES[label]], cwd=wudir, env=env, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return float(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wu", type=Path, required=True, help="a finished test_workunit tmp_path")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("src", nargs="+", type=Path)
    args = parser.parse_args()
    labels = [c for c in CASES if not args.only or c in args.only]
    with tempfile.TemporaryDirectory() as tmp:
        roots = [Path(tmp) / f"tree{i}" for i in range(len(args.src))]
        for src, root in zip(args.src, roots, strict=True):
            _prepare(args.wu, src.resolve(), root)
            for label in labels:  # byte-compile and warm the caches
                _run_once(root, args.wu, label)
        samples: dict[str, dict[str, list[float]]] = {str(s): {c: [] for c in labels} for s in args.src}
        for _ in range(args.repeat):
            for label in labels:
                for src, root in zip(args.src, roots, strict=True):
                    samples[str(src)][label].append(_run_once(root, args.wu, label))
    result = {s: {c: round(statistics.median(v), 4) for c, v in cases.items()} for s, cases in samples.items()}
    for label in labels:
        print(f"{label:20s} " + "  ".join(f"{result[str(s)][label]:.4f}" for s in args.src), file=sys.stderr)
    print(json.dumps({"benchmark": "sandbox_scripts_cpu", "unit": "cpu_seconds_median", "repeat": args.repeat,
                      "results": result}))


if __name__ == "__main__":
    main()
