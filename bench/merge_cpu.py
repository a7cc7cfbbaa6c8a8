"""CPU of one merge process: ``merge_root_files`` over simulator-like files, in a fresh interpreter.

Usage: ``python bench/merge_cpu.py [--runs 7] [--files 2] [--events 20] [--kb 4] [--old-src DIR]``.
Writes ``--files`` inputs of ``--events`` events with a ``--kb`` kB payload (wms2.sandbox.rootfile, as the
simulator does), then runs ``merge_root_files`` in a new Python process per run and measures its user+sys
CPU (``RUSAGE_CHILDREN``).  With ``--old-src`` (another checkout's ``src``, e.g. before the flat-tree
reader) the two are run interleaved, so machine load hits both alike.  Prints one JSON object on its last
line: medians (seconds) per code base.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"
CHILD = ("import sys\nfrom pathlib import Path\nfrom wms2.sandbox.merge import merge_root_files\n"
         "merge_root_files(sys.argv[2:], Path(sys.argv[1]))\n")


def _inputs(directory: Path, files: int, events: int, kb: float) -> list[str]:
    sys.path.insert(0, str(SRC))
    from wms2.sandbox.rootfile import TreeWriter

    rng = np.random.default_rng(1)
    paths = []
    for i in range(files):
        path = directory / f"in{i}.root"
        with TreeWriter(path) as writer:
            writer.write({"run": np.ones(events, np.int32), "luminosityBlock": np.ones(events, np.int32),
                          "event": np.arange(events, dtype=np.int64) + i * events,
                          "payload": rng.integers(0, 256, (events, int(kb * 1024)), dtype=np.uint8)})
        paths.append(str(path))
    return paths


def _cpu(src: str, target: Path, inputs: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", CHILD, str(target), *inputs], check=True,
                   env=dict(os.environ, PYTHONPATH=src))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--files", type=int, default=2)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--kb", type=float, default=4.0)
    parser.add_argument("--old-src", default=None)
    args = parser.parse_args()
    sources = {"new": str(SRC)} | ({"old": args.old_src} if args.old_src else {})
    times: dict[str, list[float]] = {name: [] for name in sources}
    with tempfile.TemporaryDirectory() as tmp:
        inputs = _inputs(Path(tmp), args.files, args.events, args.kb)
        for _ in range(args.runs):
            for name, src in sources.items():
                times[name].append(_cpu(src, Path(tmp) / f"merged-{name}.root", inputs))
    for name, values in times.items():
        print(f"{name}: " + " ".join(f"{v:.3f}" for v in values))
    print(json.dumps({"files": args.files, "events": args.events, "kb": args.kb, "runs": args.runs}
                     | {f"{name}_cpu_s_median": round(statistics.median(v), 4) for name, v in times.items()}))


if __name__ == "__main__":
    main()
