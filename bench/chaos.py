"""Fault harness (issue 15 item 3): ``python bench/chaos.py --runs N [--seed S]``.

Each run: a private PostgreSQL cluster, an owner and a stand-by ``wms2 run`` on the local engine, a few
small simulator requests, and every fault kind injected once at seeded random points (owner SIGKILL,
PostgreSQL crash-restart, pool daemon SIGKILL, a torn node status file, a full submit disk, the catalog
refusing writes).  Per-run progress lines, then one JSON object on the last line:
``{"runs", "lost_requests", "duplicate_submissions", "duplicate_registrations", "faults_injected",
"faults_per_run", ...}``.  Needs root (tmpfs mount, ``runuser postgres`` for initdb) or, without it,
reports the disk fault as skipped.  Exit status 1 when any count is not zero.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/reliability is the shared harness

from tests.reliability.harness import RunConfig, run_chaos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--requests", type=int, default=RunConfig.requests, help="requests per run")
    parser.add_argument("--events", type=int, default=RunConfig.events, help="events per request")
    parser.add_argument("--keep", action="store_true", help="keep every run's directory (default: failed runs)")
    parser.add_argument("--details", type=Path, help="write every run's full result (JSON) here")
    args = parser.parse_args()
    started = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - started:7.1f}s] {line}", flush=True)

    summary, results = run_chaos(args.runs, args.seed, RunConfig(requests=args.requests, events=args.events),
                                 say=say, keep=args.keep)
    for r in results:
        for line in r["incidents"] + r["duplicates"]:
            say(f"run {r['run']}: {line}")
    if args.details:
        args.details.write_text(json.dumps(results, indent=1))
    summary["wall_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary), flush=True)
    bad = summary["lost_requests"] or summary["duplicate_submissions"] or summary["duplicate_registrations"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
