"""Dashboard page loads: the calls each page makes, against a real uvicorn on loopback, with 10,000
requests in the database, a request with three rounds and failures, and a 1,250-work-unit DAG (10,000
nodes) written as DAGMan writes its files.

A page load is what the browser does when the page opens (and again at every refresh): the shell, then
its API calls issued together; its time is from the first byte sent to the last byte received, measured
by the client on the same machine (an upper bound of the server time: it includes loopback and
the client's own parsing).  Aggregate caches are off (``api.aggregate_cache_seconds = 0``), so every load
pays the full queries.

Usage: ``python bench/dashboard_latency.py [--requests 10000] [--work-units 1250] [--loads 30]``.  Prints
one JSON object on its last line with ``overview_ms``, ``request_ms``, ``dag_view_ms`` (p95 page loads),
the medians, and ``*_server_cpu_ms``: the server process's CPU time per load of the page (steadier than
wall time when other work shares the machine).  Target (issue 16): each p95 under 300 ms on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import select, update

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from api_latency import populate
from tests.web.seed import write_grid_dag

from wms2.config import Settings, load_settings
from wms2.db.session import Database
from wms2.db.tables import DagRow, RequestRow, WorkflowRow

TARGET_MS = 300.0
NODES_PER_WU = 8  # landing + 5 processing + merge + cleanup: 1,250 WUs = 10,000 nodes
STARTUP_TIMEOUT_S = 300.0  # generous: the machine may be loaded by other work
WARMUP_LOADS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(home: Path, n_requests: int, work_units: int) -> tuple[str, str, int, int]:
    """Populate the database; return (token, request name, workflow id, DAG id) of the request shown."""
    home.mkdir(parents=True)
    (home / "wms2.toml").write_text("[api]\naggregate_cache_seconds = 0.0\n")
    settings: Settings = load_settings(home)
    token, names, active = populate(settings, n_requests, min(300, n_requests // 10))
    submit_dir = home / "submit" / "bench_dag"
    write_grid_dag(submit_dir, work_units)
    db = Database(settings.db_url)
    with db.session() as s:
        wf_id = active[0]
        dag_id = s.scalar(select(DagRow.id).where(DagRow.workflow_id == wf_id))
        s.execute(update(DagRow).where(DagRow.id == dag_id).values(
            submit_dir=str(submit_dir), dag_file=str(submit_dir / "workflow.dag"), total_work_units=work_units,
            total_nodes=work_units * NODES_PER_WU,
            round_params={"request_memory_mb": 2000, "request_cpus": 4, "events_per_job": 500},
            round_metrics={"peak_rss_mb": 1500.0, "cpu_efficiency": 0.8, "events_registered": 100000}))
        s.execute(update(WorkflowRow).where(WorkflowRow.id == wf_id).values(current_dag_id=dag_id))
        name = s.scalar(select(WorkflowRow.request_name).where(WorkflowRow.id == wf_id))
        assert name in names and s.scalar(select(RequestRow.id).where(RequestRow.name == name)) is not None
    db.dispose()
    return token, str(name), wf_id, int(dag_id)


SERVER = """
import sys, uvicorn
from wms2.config import load_settings
from wms2.db.session import Database
from wms2.api import create_app
settings = load_settings(sys.argv[1])
app = create_app(settings, Database(settings.db_url, pool_size=settings.database_pool_size))
from wms2.api.server import tune_runtime
tune_runtime()  # as wms2 serve does
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", loop="uvloop", http="httptools")
"""


def pages(name: str, wf_id: int, dag_id: int) -> dict[str, list[str]]:
    """The calls each page makes when it opens (see static/overview.js, request.js, dag.js)."""
    return {
        "overview": ["/", "/ui/session", "/api/v1/dashboard/overview", "/api/v1/dashboard/requests?limit=50&offset=0"],
        "overview_search": ["/api/v1/dashboard/requests?limit=50&offset=0&q=user7",
                            "/api/v1/dashboard/requests?limit=50&offset=0&status=active"],
        "request": ["/", "/ui/session", f"/api/v1/requests/{name}", f"/api/v1/workflows/{wf_id}/status",
                    f"/api/v1/requests/{name}/errors", f"/api/v1/dashboard/requests/{name}/errors-over-time",
                    f"/api/v1/validations?request={name}"],
        "dag_view": ["/", "/ui/session", f"/api/v1/dashboard/dags/{dag_id}/grid",
                     f"/api/v1/dags/{dag_id}/nodes?work_unit=mg_000003"],
    }


async def _load(client: httpx.AsyncClient, paths: list[str]) -> float:
    started = time.perf_counter()
    answers = await asyncio.gather(*(client.get(p) for p in paths))
    elapsed = time.perf_counter() - started
    for path, answer in zip(paths, answers, strict=True):
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: HTTP {answer.status_code}: {answer.text[:200]}")
    return elapsed * 1000.0


async def measure(base: str, token: str, plan: dict[str, list[str]], loads: int,
                  server: psutil.Process) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Page-load times per page, and the server's CPU time per load of each page (its process's user +
    system time over that page's loads: what the page costs the server, whatever else the machine runs)."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        page = await client.get("/login")
        nonce = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        signed = await client.post("/login", data={"csrf": nonce, "token": token})
        if signed.status_code not in (200, 303):
            raise RuntimeError(f"login: HTTP {signed.status_code}")
        out: dict[str, list[float]] = {k: [] for k in plan}
        cpu: dict[str, float] = {}
        for _ in range(WARMUP_LOADS):
            for paths in plan.values():
                await _load(client, paths)
        for key, paths in plan.items():
            before = sum(server.cpu_times()[:2])
            for _ in range(loads):
                out[key].append(await _load(client, paths))
            cpu[key] = 1000.0 * (sum(server.cpu_times()[:2]) - before) / loads
        return out, cpu


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--work-units", type=int, default=1250)
    parser.add_argument("--loads", type=int, default=30)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="wms2-dash-bench-"))
    proc = None
    try:
        token, name, wf_id, dag_id = prepare(root / "home", args.requests, args.work_units)
        port = _free_port()
        proc = subprocess.Popen([sys.executable, "-c", SERVER, str(root / "home"), str(port)])
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        results, cpu = asyncio.run(measure(base, token, pages(name, wf_id, dag_id), args.loads,
                                           psutil.Process(proc.pid)))
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    report: dict[str, Any] = {"requests_in_db": args.requests, "work_units": args.work_units,
                              "nodes": args.work_units * NODES_PER_WU, "loads": args.loads, "target_ms": TARGET_MS}
    for key, values in results.items():
        report[f"{key}_ms"] = round(p95(values), 1)
        report[f"{key}_median_ms"] = round(statistics.median(values), 1)
        report[f"{key}_server_cpu_ms"] = round(cpu[key], 1)
    report["ok"] = all(report[f"{k}_ms"] < TARGET_MS for k in ("overview", "request", "dag_view"))
    for key in results:
        print(f"{key:16s} p95 {report[f'{key}_ms']:7.1f} ms   median {report[f'{key}_median_ms']:7.1f} ms"
              f"   server CPU {report[f'{key}_server_cpu_ms']:6.1f} ms/load", file=sys.stderr)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
