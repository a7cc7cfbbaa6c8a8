"""CPU cost of starting each worker-node entry point and the ``wms2`` CLI (test-speed.md).

Runs ``python -c "import M"`` (and a few real command lines) N times in fresh processes and reports
the best CPU time (user + system, from ``resource.getrusage(RUSAGE_CHILDREN)``), which is robust to
machine load, unlike wall time.  Usage: ``python bench/startup_cpu.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

#: Documents written by the contract models (tests/sandbox/test_contract.py reads them too).
DATA = Path(__file__).resolve().parents[1] / "tests" / "sandbox" / "data"

#: Entry points measured: label -> command line (after the interpreter).
CASES: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    # Baselines: what the libraries themselves cost to import.
    "import msgspec": ["-c", "import msgspec.json"],
    "import pydantic": ["-c", "from pydantic import BaseModel"],
    "import numpy": ["-c", "import numpy"],
    "import numpy, uproot": ["-c", "import numpy, uproot"],
    # The contract models in use: import, build the decoder, validate a document.
    "load manifest.json": ["-c", "from wms2.sandbox.manifest import WorkUnitManifest as M; "
                           f"M.load({str(DATA / 'manifest.json')!r})"],
    "read+write post.json": ["-c", "from wms2.sandbox.results import PostResult as R; "
                             f"R.model_validate_json(open({str(DATA / 'proc_000001.post.json')!r}).read())"
                             ".model_dump_json(indent=1)"],
    "wms2.sandbox.cli": ["-c", "import wms2.sandbox.cli"],
    "wms2.sandbox.pre": ["-c", "import wms2.sandbox.pre"],
    "wms2.sandbox.post": ["-c", "import wms2.sandbox.post"],
    "wms2.sandbox.landing": ["-c", "import wms2.sandbox.landing"],
    "wms2.sandbox.merge": ["-c", "import wms2.sandbox.merge"],
    "wms2.sandbox.cleanup": ["-c", "import wms2.sandbox.cleanup"],
    "wms2.sandbox.wrapper": ["-c", "import wms2.sandbox.wrapper"],
    "wms2.sandbox.simulator": ["-c", "import wms2.sandbox.simulator"],
    "wms2.sandbox.simulator + uproot": ["-c", "import wms2.sandbox.simulator, uproot"],
    "wms2.cli": ["-c", "import wms2.cli"],
    "wms2 --help": ["-m", "wms2.cli", "--help"],
    "wms2 dag --help": ["-m", "wms2.cli", "dag", "--help"],
}


def cpu_of(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, *argv], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="runs per entry point; the best is kept")
    parser.add_argument("--only", nargs="*", default=None, help="labels to measure (default: all)")
    args = parser.parse_args()
    result: dict[str, float] = {}
    for label, argv in CASES.items():
        if args.only and label not in args.only:
            continue
        cpu_of(argv)  # warm the page cache and the bytecode cache
        result[label] = round(min(cpu_of(argv) for _ in range(args.repeat)), 3)
        print(f"{label:28s} {result[label]:.3f} CPU-s", file=sys.stderr)
    print(json.dumps({"benchmark": "startup_cpu", "unit": "cpu_seconds_best_of", "repeat": args.repeat,
                      "results": result}))


if __name__ == "__main__":
    main()
