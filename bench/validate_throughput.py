"""Throughput and memory of ``wms2 validate``: compare two sets of ROOT files of ``--size-mb`` each.

The files are generated under a temporary directory first (in a child process, so the generator's
memory does not count): NanoAOD-like flat trees (the simulator's physics branches plus derived jet
branches), uncompressed like the simulator's outputs, ``--file-mb`` per file, the two sides with
different seeds.  Then the comparison runs in this process with ``validation.workers`` processes.

Prints one JSON object on its last line:
``{"bytes_per_second": ..., "peak_rss_mb": ..., ...}`` where ``peak_rss_mb`` is this process's peak
plus ``workers`` x the largest worker's peak (an upper bound of what the validation held at once).
Target (issue 17): >= 100 MB/s, memory independent of the file size (compare ``--size-mb 64`` with 1024).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EVENTS_PER_WRITE = 500_000  # events per uproot extend (one basket per branch)
DERIVED_BRANCHES = 16  # extra float branches: Jet1_pt ... (a NanoAOD-like width of ~100 bytes/event)
MB = 1024 * 1024


def _events(seed: int, block: int, n: int) -> dict[str, np.ndarray]:
    from wms2.sandbox.physics import generate

    data = generate(seed, block, n)
    pt = data["LeadJet_pt"]
    for i in range(1, DERIVED_BRANCHES + 1):
        data[f"Jet{i}_pt"] = (pt * (0.93**i) + np.float32(i)).astype(np.float32)
    return data


def generate_set(directory: Path, size_mb: float, file_mb: float, seed: int, fmt: str) -> None:
    import uproot

    directory.mkdir(parents=True, exist_ok=True)
    per_event = sum(a.itemsize for a in _events(seed, 0, 1).values())
    total_events = int(size_mb * MB / per_event)
    per_file = max(1, int(file_mb * MB / per_event))
    block = 0
    for index, start in enumerate(range(0, total_events, per_file)):
        n_file = min(per_file, total_events - start)
        with uproot.recreate(directory / f"part{index:04d}.root", compression=None) as rootfile:
            written = 0
            while written < n_file:
                n = min(EVENTS_PER_WRITE, n_file - written)
                data = _events(seed, block, n)
                block += 1
                if written == 0:
                    if fmt == "ttree":
                        rootfile.mktree("Events", {k: v.dtype for k, v in data.items()})
                        rootfile["Events"].extend(data)
                    else:
                        rootfile["Events"] = data
                else:
                    rootfile["Events"].extend(data)
                written += n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1024.0, help="size of each of the two sets")
    parser.add_argument("--file-mb", type=float, default=128.0, help="size of one file")
    parser.add_argument("--workers", type=int, default=None, help="default: validation.workers")
    parser.add_argument("--format", choices=["ttree", "rntuple"], default="ttree")
    parser.add_argument("--dir", type=Path, default=None, help="keep the files here (default: a temp dir)")
    parser.add_argument("--generate-only", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate_only is not None:
        generate_set(args.generate_only, args.size_mb, args.file_mb, args.seed, args.format)
        return 0

    from wms2.config import ValidationSettings
    from wms2.validation import from_files
    from wms2.validation.compare import compare

    with tempfile.TemporaryDirectory(prefix="wms2-validate-bench-") as tmp:
        root = args.dir or Path(tmp)
        t0 = time.monotonic()
        for side, seed in (("ref", 1), ("new", 2)):
            if not (root / side).is_dir():
                subprocess.run([sys.executable, __file__, "--generate-only", str(root / side), "--seed", str(seed),
                                "--size-mb", str(args.size_mb), "--file-mb", str(args.file_mb),
                                "--format", args.format], check=True)
        generate_s = time.monotonic() - t0
        cfg = ValidationSettings() if args.workers is None else ValidationSettings(workers=args.workers)
        started = time.monotonic()
        result = compare(from_files([str(root / "ref")]), from_files([str(root / "new")]), cfg)
        elapsed = time.monotonic() - started
    res = result.resources
    assert res is not None
    out = {
        "bytes_per_second": round(res.bytes / elapsed, 1),
        "peak_rss_mb": round(res.parent_peak_rss_mb + cfg.workers * res.worker_peak_rss_mb, 1),
        "parent_peak_rss_mb": res.parent_peak_rss_mb,
        "worker_peak_rss_mb": res.worker_peak_rss_mb,
        "workers": cfg.workers,
        "bytes": res.bytes,
        "files": res.files,
        "seconds": round(elapsed, 2),
        "scan_cpu_seconds": res.scan_cpu_seconds,
        "bytes_per_cpu_second": round(res.bytes / res.scan_cpu_seconds, 1) if res.scan_cpu_seconds else None,
        "generate_seconds": round(generate_s, 2),
        "format": args.format,
        "verdict": result.verdict,
        "branches": len(result.branches),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
