"""API latency: 20 concurrent clients against a real uvicorn on loopback, 10,000 requests in the database
(300 active), then the same load while a 100,000-node round is planned and rendered inside the server
process (in a worker thread, as the lifecycle does).

Usage: ``python bench/api_latency.py [--clients 20] [--requests 10000] [--active 300] [--seconds 15]
[--plan-nodes 100000] [--lifecycle-dags 300] [--lifecycle-seconds 40] [--lifecycle-clients 10]
[--think-ms 250]``.  Prints one JSON object on its last line with ``clients``, ``requests_in_db``,
``p50_ms``, ``p99_ms`` (steady load, main read endpoints) and ``max_ms_during_plan``.  Targets (issue 8):
p99 < 100 ms on this machine; nothing slower than 1 s while the plan runs.

Then (issue 15) the owner's load in the same process: 300 of the active requests are
``bench/lifecycle_cycle.py``'s synthetic DAGs (1,250 WUs each, DAGMan's status and result files), the
server's Lifecycle Manager cycles on them back to back with the real workers, and a DAGMan stand-in
process advances them after every cycle; 10 clients (dashboards, CLIs) each read one of the same
endpoints, pause ~250 ms, and read again.  ``p99_ms_under_lifecycle`` (target < 50 ms), p50, max, the
load (``lifecycle_load``) and the cycles' wall and CPU seconds are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_throughput import bench_document

from wms2.api.auth import create_token
from wms2.config import Settings, load_settings
from wms2.core.workflow_manager import submit_documents
from wms2.db.session import Database
from wms2.db.tables import DagRow, RequestRow, WorkflowRow

TARGET_P99_MS = 100.0
TARGET_MAX_DURING_PLAN_MS = 1000.0
QUEUED_SHARE = 0.1  # of the non-active requests
PAGE = 50
PLAN_TIMEOUT_S = 300.0
STARTUP_TIMEOUT_S = 240.0  # a loaded 2-core machine can take minutes to import and start
PLAN_DONE = "plan_done.json"
CYCLES_FILE = "lifecycle_cycles.jsonl"
LIFECYCLE_DAGS = 300  # issue 15: API reads while the owner cycles on 300 active DAGs x 1,250 WUs
LIFECYCLE_WORK_UNITS = 1250
LIFECYCLE_CLIENTS = 10  # operators' dashboards and CLIs: 10 concurrent users ...
LIFECYCLE_THINK_S = 0.25  # ... each reading a page every quarter second after its previous answer
TARGET_P99_UNDER_LIFECYCLE_MS = 50.0
NO_YIELD_ENV = "WMS2_BENCH_NO_YIELD"  # "1": the lifecycle phase without wms2.core.foreground (comparison)
NEW_PER_CYCLE = 3  # WUs per DAG finishing between two cycles (as bench/lifecycle_cycle.py)
SEED = 8


# -- database population ---------------------------------------------------------------------------
def populate(settings: Settings, n_requests: int, n_active: int) -> tuple[str, list[str], list[int]]:
    """Bulk-insert requests, workflows and live DAGs; return an operator token, names, active workflow ids."""
    from wms2.core.service import init_home

    db = init_home(settings)
    with db.session() as s:
        token = create_token(s, "bench", "operator", "bench")[1]
        submit_documents(s, [("template", bench_document(1000))], settings, "bench")
        template = s.scalar(select(RequestRow))
        assert template is not None
        base = {c.key: getattr(template, c.key) for c in RequestRow.__table__.columns if c.key not in ("id", "name")}
        s.delete(template)
    now = datetime.now(UTC)
    n_queued = int((n_requests - n_active) * QUEUED_SHARE)
    names = [f"bench_req_{i:06d}" for i in range(n_requests)]
    rows: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        status = "active" if i < n_active else "queued" if i < n_active + n_queued else "completed"
        rows.append({**base, "name": name, "status": status, "campaign": f"Camp{i % 7}", "requestor": f"user{i % 13}",
                     "priority": 100000 - i % 1000, "queued_at": now - timedelta(seconds=i),
                     "document": {**base["document"], "RequestName": name}})
    with db.session() as s:
        for start in range(0, len(rows), 1000):
            s.execute(insert(RequestRow), rows[start:start + 1000])
    with db.session() as s:
        ids = list(s.execute(select(RequestRow.id, RequestRow.name, RequestRow.status).order_by(RequestRow.id)))
        wfs = [{"request_id": rid, "request_name": name, "status": "active" if st == "active" else
                "new" if st == "queued" else "completed", "splitting_params": {}, "payload_config": {},
                "step_metrics": {}, "adaptive_params": {}, "category_throttles": {}, "node_counters": {},
                "events_produced": 250_000 if st == "active" else 0} for rid, name, st in ids]
        for start in range(0, len(wfs), 1000):
            s.execute(insert(WorkflowRow), wfs[start:start + 1000])
    with db.session() as s:
        active = list(s.scalars(select(WorkflowRow.id).where(WorkflowRow.status == "active").order_by(WorkflowRow.id)))
        if not active:
            db.dispose()
            return token, names, active
        dags = [{"workflow_id": wid, "round": 1, "dag_file": f"/nonexistent/{wid}/workflow.dag",
                 "submit_dir": f"/nonexistent/{wid}", "status": "running", "total_nodes": 1100,
                 "total_work_units": 100, "node_counters": {"wu_done": 40, "wu_total": 100},
                 "submitted_at": now - timedelta(hours=3), "nodes_by_role": {}, "completed_work_units": {},
                 "round_params": {}, "round_metrics": {}} for wid in active]
        s.execute(insert(DagRow), dags)
    db.dispose()
    return token, names, active


# -- server (a separate process, like wms2 serve) ---------------------------------------------------
def run_server(home: Path, port: int, plan_nodes: int, lifecycle_dags: int) -> None:
    import uvicorn

    from wms2.api.app import create_app
    from wms2.api.server import tune_runtime
    from wms2.core.lifecycle import LifecycleManager

    settings = load_settings(home)
    db = Database(settings.db_url, pool_size=settings.database_pool_size)  # as wms2 serve (init_home) opens it
    stop = threading.Event()
    if lifecycle_dags:
        # The real lifecycle workers (DAG Monitor, Output Manager, launcher) on the synthetic DAGs, with
        # lifecycle_cycle's in-memory engine (every DAGMan job running): the owner's work, in this process.
        from lifecycle_cycle import BenchEngine

        from wms2.core.wiring import build_workers

        lifecycle = LifecycleManager(db, settings, build_workers(settings, db, engine=BenchEngine()))
        no_yield = os.environ.get(NO_YIELD_ENV) == "1"
        go_cycles = threading.Event()
        signal.signal(signal.SIGUSR2, lambda *_: go_cycles.set())
        threading.Thread(target=_cycle_loop, args=(lifecycle, home / CYCLES_FILE, go_cycles, stop), daemon=True,
                         name="wms2-lifecycle").start()
    else:
        lifecycle = LifecycleManager(db, settings)  # no engine workers: the bench measures the API
        threading.Thread(target=lifecycle.run_forever, args=(stop,), daemon=True, name="wms2-lifecycle").start()
    go = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: go.set())
    threading.Thread(target=_plan_worker, args=(settings, plan_nodes, go), daemon=True, name="planner").start()
    app = create_app(settings, db, lifecycle=lifecycle)
    if lifecycle_dags and no_yield:  # the comparison: the cycle does not let the API's requests go first
        lifecycle.foreground = None
    tune_runtime()  # as wms2 serve does
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")).run()
    stop.set()
    lifecycle.wake()


def _cycle_loop(lifecycle: Any, out: Path, go: threading.Event, stop: threading.Event) -> None:
    """One cycle at start (the cold one, parsing every file, as after a restart); then, once told, cycles
    back to back (the worst case for the API: the owner never idle) until the server stops.  Each cycle's
    wall and thread CPU time is appended to ``out``."""
    while not stop.is_set():
        cpu0 = time.thread_time()
        report = lifecycle.run_cycle()
        with out.open("a") as f:
            f.write(json.dumps({"seconds": round(report.duration_s, 3),
                                "cpu_seconds": round(time.thread_time() - cpu0, 3),
                                "evaluated": report.evaluated, "errors": len(report.errors),
                                "warm": go.is_set()}) + "\n")
        go.wait()


def _plan_worker(settings: Settings, nodes: int, go: threading.Event) -> None:
    from wms2.domain.reqmgr import import_request
    from wms2.planning.params import PlanInputs, WorkflowState
    from wms2.planning.render.writer import write_round
    from wms2.planning.round import plan_round

    go.wait()
    pauses = _gc_pauses()
    started = time.perf_counter()
    spec = import_request(bench_document(nodes))
    plan = plan_round(PlanInputs(spec, WorkflowState("1"), settings.planning, settings.resources))
    result = write_round(plan, spec, "1", settings)
    seconds = time.perf_counter() - started
    (settings.home / PLAN_DONE).write_text(json.dumps({"nodes": len(plan.jobs), "total_nodes": plan.total_nodes,
                                                       "seconds": seconds, "files": result.files,
                                                       "max_gc_pause_ms": round(max(pauses, default=0.0), 1),
                                                       "gc_pauses_over_100ms": sum(p > 100 for p in pauses)}))


def _gc_pauses() -> list[float]:
    """Record the duration of every garbage collection (they stop every thread, the API's included)."""
    import gc

    pauses: list[float] = []
    start = [0.0]

    def callback(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            start[0] = time.perf_counter()
        else:
            pauses.append((time.perf_counter() - start[0]) * 1000)

    gc.callbacks.append(callback)
    return pauses


# -- clients ----------------------------------------------------------------------------------------
def _paths(names: list[str], workflows: list[int], rng: random.Random) -> list[str]:
    return [
        f"/requests?limit={PAGE}",
        f"/requests?status=active&limit={PAGE}",
        f"/requests/{rng.choice(names)}",
        f"/workflows/{rng.choice(workflows)}/status",
        f"/admission/queue?limit={PAGE}",
        f"/dags?status=running&limit={PAGE}",
        f"/workflows?status=active&limit={PAGE}",
        "/status",
    ]


async def _client(c: httpx.AsyncClient, names: list[str], workflows: list[int], seed: int,
                  until: Any, out: list[tuple[str, float]], think_s: float = 0.0) -> None:
    rng = random.Random(seed)
    while not until():
        if think_s:
            await asyncio.sleep(rng.uniform(0.5, 1.5) * think_s)
        paths = _paths(names, workflows, rng)
        path = paths[rng.randrange(len(paths))]
        t0 = time.perf_counter()
        r = await c.get(path)
        ms = (time.perf_counter() - t0) * 1000
        if r.status_code != 200:
            raise RuntimeError(f"GET {path}: {r.status_code} {r.text[:200]}")
        out.append((path.split("?")[0].split("/")[1], ms))


def load(base: str, token: str, names: list[str], workflows: list[int], clients: int, until: Any,
         think_s: float = 0.0) -> list[tuple[str, float]]:
    """Every client is built before any request is timed: building an httpx client (its SSL context) takes
    tens of milliseconds of the one event loop, which would otherwise be charged to the first requests of
    the clients already running."""
    out: list[tuple[str, float]] = []

    async def main() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        pool = [httpx.AsyncClient(base_url=base, headers=headers, timeout=30) for _ in range(clients)]
        try:
            await asyncio.gather(*(_client(c, names, workflows, SEED + i, until, out, think_s)
                                   for i, c in enumerate(pool)))
        finally:
            await asyncio.gather(*(c.aclose() for c in pool))

    asyncio.run(main())
    return out


# -- the lifecycle's state: 300 active DAGs x 1,250 WUs with DAGMan's files ---------------------------
def setup_lifecycle_dags(settings: Settings, n_dags: int, work_units: int) -> tuple[list[Any], list[str], list[int]]:
    """lifecycle_cycle's synthetic DAGs (status files, WU result files, records, blocks) as the active
    requests; returns them with their request names and workflow ids."""
    from lifecycle_cycle import SEED as CYCLE_SEED
    from lifecycle_cycle import BenchEngine, setup

    db = Database(settings.db_url)
    dags = setup(settings, db, BenchEngine(), n_dags, work_units, random.Random(CYCLE_SEED))
    with db.session() as s:
        rows = list(s.execute(select(RequestRow.name, WorkflowRow.id).join(WorkflowRow, WorkflowRow.request_id ==
                                                                            RequestRow.id)
                              .where(RequestRow.name.like("bench_lifecycle_%")).order_by(WorkflowRow.id)))
        # the real request document and spec of the other requests (the lifecycle loads them every cycle,
        # the workflow status page reads the spec)
        template = s.execute(select(RequestRow.document, RequestRow.spec).where(
            RequestRow.name.not_like("bench_lifecycle_%")).limit(1)).one()
        for name, _wf in rows:
            s.execute(update(RequestRow).where(RequestRow.name == name).values(
                document={**template.document, "RequestName": name}, spec=template.spec))
    db.dispose()
    return dags, [r[0] for r in rows], [r[1] for r in rows]


def dagman_standin(dags: list[Any], cycles_file: Path, stop: Any, new_per_cycle: int) -> None:
    """DAGMan's part, in its own process (as DAGMan is): after every finished lifecycle cycle, a few
    running WUs per DAG finish with their result files, as many start, inner status files are rewritten
    and every outer status file is rewritten."""
    seen = _cycle_lines(cycles_file)
    while not stop.is_set():
        now = _cycle_lines(cycles_file)
        if now > seen:
            seen = now
            ts = int(time.time())
            for d in dags:
                d.advance(new_per_cycle, ts)
        stop.wait(0.05)


def _cycle_lines(path: Path) -> int:
    try:
        return len(path.read_text().splitlines())
    except FileNotFoundError:
        return 0


def read_cycles(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (robust to other load on the machine, unlike wall-clock latency)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become healthy")


def _wait_first_cycle(base: str, token: str) -> float | None:
    """Measure between lifecycle cycles (the first one evaluates every non-terminal request)."""
    deadline = time.monotonic() + PLAN_TIMEOUT_S
    while time.monotonic() < deadline:
        r = httpx.get(f"{base}/lifecycle/status", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        last = r.json().get("last_cycle")
        if last is not None:
            return float(last["duration_s"])
        time.sleep(0.5)
    return None




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--active", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=15.0, help="steady-load duration")
    parser.add_argument("--plan-nodes", type=int, default=100_000)
    parser.add_argument("--lifecycle-dags", type=int, default=LIFECYCLE_DAGS,
                        help="active requests with real DAG files the owner cycles on (0: no lifecycle phase)")
    parser.add_argument("--lifecycle-work-units", type=int, default=LIFECYCLE_WORK_UNITS)
    parser.add_argument("--lifecycle-seconds", type=float, default=40.0, help="duration of the lifecycle phase")
    parser.add_argument("--lifecycle-clients", type=int, default=LIFECYCLE_CLIENTS)
    parser.add_argument("--think-ms", type=float, default=LIFECYCLE_THINK_S * 1000,
                        help="each lifecycle-phase client's pause between answer and next request")
    parser.add_argument("--dir", type=Path, default=None, help="WMS2 home (default: a temp dir, removed)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run_server(args.dir, args.port, args.plan_nodes, args.lifecycle_dags)
        return
    home = args.dir or Path(tempfile.mkdtemp(prefix="wms2-api-bench-"))
    os.environ["WMS2_HOME"] = str(home)
    settings = load_settings(home)
    n_lc = args.lifecycle_dags
    # the 10,000 requests: n_lc of the active ones are the lifecycle's real DAGs, the rest as before
    token, names, workflows = populate(settings, args.requests - n_lc, max(0, args.active - n_lc))
    dags: list[Any] = []
    if n_lc:
        dags, lc_names, lc_workflows = setup_lifecycle_dags(settings, n_lc, args.lifecycle_work_units)
        names, workflows = names + lc_names, workflows + lc_workflows
    port = _free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    proc = subprocess.Popen([sys.executable, __file__, "--serve", "--dir", str(home), "--port", str(port),
                             "--plan-nodes", str(args.plan_nodes), "--lifecycle-dags", str(n_lc)],
                            stdout=subprocess.DEVNULL)
    under: list[tuple[str, float]] = []
    try:
        _wait_healthy(base, proc)
        cycle_s = _wait_first_cycle(base, token)
        load(base, token, names, workflows, args.clients, _deadline(2.0))  # warm-up
        cpu0 = _cpu_seconds(proc.pid)
        steady = load(base, token, names, workflows, args.clients, _deadline(args.seconds))
        server_cpu_ms = (_cpu_seconds(proc.pid) - cpu0) * 1000 / max(1, len(steady))
        proc.send_signal(signal.SIGUSR1)
        done = home / PLAN_DONE
        plan_started = time.monotonic()
        during = load(base, token, names, workflows, args.clients,
                      lambda: done.exists() or time.monotonic() - plan_started > PLAN_TIMEOUT_S)
        plan = json.loads(done.read_text()) if done.exists() else {"seconds": None, "nodes": None}
        if n_lc:
            under = lifecycle_phase(args, base, token, names, workflows, dags, home, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        cycles = read_cycles(home / CYCLES_FILE)
        if args.dir is None:
            shutil.rmtree(home, ignore_errors=True)
    sys.stdout.write(json.dumps({**report(args, steady, during, plan), **lifecycle_report(args, under, cycles),
                                  "lifecycle_cycle_s": cycle_s,
                                  "server_cpu_ms_per_request": round(server_cpu_ms, 2),
                                  "load_average_1m": os.getloadavg()[0]}) + "\n")


def lifecycle_phase(args: argparse.Namespace, base: str, token: str, names: list[str], workflows: list[int],
                    dags: list[Any], home: Path, proc: subprocess.Popen[bytes]) -> list[tuple[str, float]]:
    """Reads while the server's lifecycle cycles back to back on the real DAGs, DAGMan's stand-in
    (another process) advancing them after every cycle."""
    import multiprocessing

    ts = int(time.time())
    for d in dags:  # the first warm cycle has work to do too
        d.advance(NEW_PER_CYCLE, ts)
    fork = multiprocessing.get_context("fork")
    stop = fork.Event()
    standin = fork.Process(target=dagman_standin, args=(dags, home / CYCLES_FILE, stop, NEW_PER_CYCLE),
                           daemon=True, name="dagman-standin")
    standin.start()
    try:
        proc.send_signal(signal.SIGUSR2)
        return load(base, token, names, workflows, args.lifecycle_clients, _deadline(args.lifecycle_seconds),
                    think_s=args.think_ms / 1000)
    finally:
        stop.set()
        standin.join(timeout=60)


def lifecycle_report(args: argparse.Namespace, under: list[tuple[str, float]],
                     cycles: list[dict[str, Any]]) -> dict[str, Any]:
    if not under:
        return {"p99_ms_under_lifecycle": None}
    ms = [m for _, m in under]
    warm = [c for c in cycles if c["warm"]]
    per = {e: round(pct([m for x, m in under if x == e], 0.99), 2) for e in sorted({e for e, _ in under})}
    return {
        "p99_ms_under_lifecycle": round(pct(ms, 0.99), 2), "p50_ms_under_lifecycle": round(pct(ms, 0.5), 2),
        "max_ms_under_lifecycle": round(max(ms), 2), "requests_under_lifecycle": len(ms),
        "p99_ms_under_lifecycle_per_endpoint": per,
        "lifecycle_load": {"clients": args.lifecycle_clients, "think_ms": args.think_ms,
                           "endpoints": [p.replace("/-1/", "/{id}/") for p in _paths(["{name}"], [-1],
                                                                                        random.Random(0))],
                           "dags": args.lifecycle_dags, "work_units_per_dag": args.lifecycle_work_units,
                           "new_work_units_per_dag_per_cycle": NEW_PER_CYCLE,
                           "same_process": True, "cycles": "back to back",
                           "cycle_yields_to_api": os.environ.get(NO_YIELD_ENV) != "1"},
        "lifecycle_cycles_during": len(warm),
        "lifecycle_cycle_seconds_during": [c["seconds"] for c in warm],
        "lifecycle_cycle_cpu_seconds_during": [c["cpu_seconds"] for c in warm],
        "lifecycle_first_cycle": cycles[0] if cycles else None,
        "target_p99_ms_under_lifecycle": TARGET_P99_UNDER_LIFECYCLE_MS,
        "ok_under_lifecycle": pct(ms, 0.99) < TARGET_P99_UNDER_LIFECYCLE_MS,
    }


def _deadline(seconds: float) -> Any:
    """``seconds`` from the first check, i.e. from when the clients are built and the first request goes
    out (building 20 clients can take seconds on a loaded machine)."""
    end: list[float] = []

    def until() -> bool:
        if not end:
            end.append(time.monotonic() + seconds)
        return time.monotonic() > end[0]

    return until


def report(args: argparse.Namespace, steady: list[tuple[str, float]], during: list[tuple[str, float]],
           plan: dict[str, Any]) -> dict[str, Any]:
    ms = [m for _, m in steady]
    plan_ms = [m for _, m in during] or [0.0]
    per: dict[str, dict[str, float]] = {}
    for endpoint in sorted({e for e, _ in steady}):
        values = [m for e, m in steady if e == endpoint]
        per[endpoint] = {"p50_ms": round(pct(values, 0.5), 2), "p99_ms": round(pct(values, 0.99), 2)}
    duration = args.seconds
    return {
        "clients": args.clients, "requests_in_db": args.requests, "active_requests": args.active,
        "requests_measured": len(ms), "throughput_rps": round(len(ms) / duration, 1),
        "p50_ms": round(pct(ms, 0.5), 2), "p99_ms": round(pct(ms, 0.99), 2), "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2), "per_endpoint": per,
        "plan_nodes": plan.get("nodes"), "plan_total_nodes": plan.get("total_nodes"),
        "plan_seconds": plan.get("seconds"), "requests_during_plan": len(during),
        "max_gc_pause_ms_during_plan": plan.get("max_gc_pause_ms"),
        "p99_ms_during_plan": round(pct(plan_ms, 0.99), 2), "max_ms_during_plan": round(max(plan_ms), 2),
        "target_p99_ms": TARGET_P99_MS, "target_max_ms_during_plan": TARGET_MAX_DURING_PLAN_MS,
        "ok": pct(ms, 0.99) < TARGET_P99_MS and max(plan_ms) < TARGET_MAX_DURING_PLAN_MS,
    }


if __name__ == "__main__":
    main()
