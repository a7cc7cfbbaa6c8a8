"""bench/plan_throughput.py prints the contract JSON on its last line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "plan_throughput.py"


def test_bench_contract(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--nodes", "500", "--dir", str(tmp_path / "home")],
                         capture_output=True, text=True, check=True, timeout=120)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["nodes"] == 500 and report["total_nodes"] == 500 + 3 * 63
    assert report["files"] == 2 + 63 * 6 and report["bytes"] > 0
    assert report["seconds"] > 0 and report["nodes_per_second"] > 0 and report["peak_rss_mb"] > 0
    assert not (tmp_path / "home" / "submit" / "bench_plan_throughput_500").exists()
