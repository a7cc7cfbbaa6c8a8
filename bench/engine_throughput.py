"""Throughput of the local engine: a DAG of N trivial jobs (``/bin/true``) run by a fresh pool daemon.

Usage: ``python bench/engine_throughput.py --nodes 2000 [--shape fan|flat|chain]``.  Prints one JSON
object on its last line: nodes, seconds (submit to DAG exit), nodes_per_second, peak_rss_mb (the daemon
process, sampled while the DAG runs) and a few details.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import threading
import time
from pathlib import Path

import psutil

from wms2.config import Settings
from wms2.engines.base import SubmitOptions
from wms2.engines.local.client import LocalEngine, ensure_pool_running, stop_pool

SAMPLE_S = 0.05


def write_dag(root: Path, nodes: int, shape: str) -> Path:
    (root / "true.sub").write_text("executable = /bin/true\nqueue\n")
    names = [f"n{i:06d}" for i in range(nodes)]
    lines = [f"JOB {n} true.sub" for n in names]
    if shape == "chain":
        lines += [f"PARENT {a} CHILD {b}" for a, b in itertools.pairwise(names)]
    elif shape == "fan" and nodes >= 3:
        lines.append(f"PARENT {names[0]} CHILD {' '.join(names[1:-1])}")
        lines.append(f"PARENT {' '.join(names[1:-1])} CHILD {names[-1]}")
    lines.append("NODE_STATUS_FILE bench.status 30")
    dag = root / "bench.dag"
    dag.write_text("\n".join(lines) + "\n")
    return dag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--shape", choices=["fan", "flat", "chain"], default="fan")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wms2-bench-") as tmp:
        root = Path(tmp)
        settings = Settings(home=root / "home")
        (root / "dag").mkdir()
        dag = write_dag(root / "dag", args.nodes, args.shape)
        daemon = psutil.Process(int(ensure_pool_running(settings)["pid"]))
        base_rss = daemon.memory_info().rss
        peak = [base_rss]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                try:
                    peak[0] = max(peak[0], daemon.memory_info().rss)
                except psutil.Error:
                    return
                time.sleep(SAMPLE_S)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        engine = LocalEngine(settings)
        start = time.perf_counter()
        cluster = engine.submit_dag(dag, SubmitOptions()).cluster_id
        info = engine.wait(cluster, timeout=3600, poll=0.05)
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        cpu = daemon.cpu_times()
        stop_pool(settings)
    result = {
        "nodes": args.nodes, "seconds": round(seconds, 3), "nodes_per_second": round(args.nodes / seconds, 1),
        "peak_rss_mb": round(peak[0] / 2**20, 1), "idle_rss_mb": round(base_rss / 2**20, 1),
        "daemon_cpu_s": round(cpu.user + cpu.system, 2), "shape": args.shape, "exit_code": info.exit_code,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
