"""Conformance of the local engine with real DAGMan on every fixture DAG file (issue 14).

Parses every ``*.dag`` under ``../shared/fixtures/{dag-files,dagman-runs}``, runs each on a private local
pool with stand-ins for the executables the fixtures do not include, and compares the files produced
with the real DAGMan files where the fixture has them.  Prints a table, then one JSON object on the last
line: ``{"files": N, "parsed_ok": n, "ran_ok": n, "mismatches": [...]}``.
Every mismatch left is explained in docs/design-notes/engine-local.md ("Conformance").

Usage: .venv/bin/python bench/dagman_conformance.py [--fixtures DIR] [--timeout S]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from wms2.config import Settings
from wms2.engines.local.client import LocalEngine, ensure_pool_running, stop_pool
from wms2.engines.local.conformance import run_all

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
DEFAULT_TIMEOUT_S = 120.0  # per DAG, once all are submitted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wms2-conformance-") as tmp:
        settings = Settings(home=Path(tmp) / "home")
        ensure_pool_running(settings)
        start = time.monotonic()
        try:
            results = run_all(args.fixtures, Path(tmp) / "work", LocalEngine(settings), args.timeout)
        finally:
            stop_pool(settings)
        elapsed = time.monotonic() - start
    print(f"{'file':<62} {'parsed':>6} {'ran':>4} {'exit':>4} {'compared':>8} {'diffs':>5}")
    for r in results:
        print(f"{r.file:<62} {'yes' if r.parsed_ok else 'NO':>6} {'yes' if r.ran_ok else 'no':>4} "
              f"{'' if r.exit_code is None else r.exit_code:>4} {'yes' if r.real_outputs else '-':>8} "
              f"{len(r.mismatches):>5}")
        if r.error:
            print(f"    {r.error}")
    mismatches = [m for r in results for m in r.mismatches]
    for m in mismatches:
        print(f"  mismatch: {m}")
    print(f"({elapsed:.1f} s wall on a shared machine)")
    print(json.dumps({"files": len(results), "parsed_ok": sum(r.parsed_ok for r in results),
                      "ran_ok": sum(r.ran_ok for r in results), "mismatches": mismatches}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
