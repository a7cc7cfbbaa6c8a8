"""The local pool daemon (``wms2 pool start``): a separate process owning ``settings.pool_dir``.

It serves JSON over HTTP on loopback; the port is written to ``<spool>/pool.port`` and the pid to
``<spool>/pool.pid``.  At start it recovers the DAGs its previous incarnation was running.
Run as ``python -m wms2.engines.local.daemon --spool DIR --sites JSON``.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlparse

from wms2.dagman.config_file import ConfigError
from wms2.dagman.parser import DagParseError
from wms2.dagman.submit import SubmitError
from wms2.engines.local.pool import Slot
from wms2.engines.local.recovery import recover_all
from wms2.engines.local.reports import STATUS_SCAN_S
from wms2.engines.local.scheduler import IDLE_WAIT_S, PERIODIC_INTERVAL_S, Scheduler, SubmitRefused

log = logging.getLogger(__name__)
PORT_FILE = "pool.port"
PID_FILE = "pool.pid"
LOCK_FILE = "daemon.lock"
SPOOL_CHECK_S = 5.0  # how often the daemon checks that its spool still exists and is its own
SERVER_POLL_S = 0.5  # how soon serve_forever notices a shutdown request (socketserver default)
PROTOCOL_VERSION = 1
MAX_LONG_POLL_S = 20.0  # a /wait answers after this at the latest (clients time out at 30 s)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: " + format, *args)

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, default=str).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        sched = self.server.scheduler
        if url.path == "/ping":
            self._reply(200, {"ok": True, "pid": os.getpid(), "protocol": PROTOCOL_VERSION,
                              "spool": str(sched.spool), "dags": len(sched.runs),
                              "sites": [s.site for s in sched.pool.slots],
                              # load for placement over several pools (issue 15): like a schedd ad
                              "active_dags": sched.records.active_top_level(), "jobs": len(sched.pool.jobs)})
        elif url.path == "/query":
            info = sched.info(int(params.get("cluster", "-1")))
            self._reply(200, info) if info else self._reply(404, {"error": "unknown cluster", "kind": "unknown"})
        elif url.path == "/wait":  # long poll: answers like /query once the DAG job is done, or at the timeout
            cluster = int(params.get("cluster", "-1"))
            sched.wait_finished(cluster, min(float(params.get("timeout", "0")), MAX_LONG_POLL_S))
            info = sched.info(cluster)
            self._reply(200, info) if info else self._reply(404, {"error": "unknown cluster", "kind": "unknown"})
        elif url.path == "/nodes":
            snapshot = sched.snapshot(int(params.get("cluster", "-1")))
            self._reply(200, snapshot) if snapshot else self._reply(404, {"error": "not running", "kind": "unknown"})
        elif url.path == "/find":  # top-level DAG jobs submitted with this batch name, newest last
            name = params.get("batch_name", "")
            self._reply(200, {"clusters": [r.cluster for r in sched.records.all()
                                           if r.parent is None and name and r.batch_name == name]})
        elif url.path == "/list":
            self._reply(200, {"dags": [r.as_dict() for r in sched.records.all()]})
        else:
            self._reply(404, {"error": f"no such endpoint {url.path}", "kind": "unknown"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._reply(400, {"error": "bad JSON", "kind": "bad_request"})
            return
        sched = self.server.scheduler
        path = urlparse(self.path).path
        if path == "/submit":
            self._submit(body)
            return
        if path == "/shutdown":
            self._reply(200, {"ok": True})
            threading.Thread(target=self.server.shutdown, daemon=True).start()
            return
        cluster = int(body.get("cluster", -1))
        if sched.records.get(cluster) is None:
            self._reply(404, {"error": f"unknown cluster {cluster}", "kind": "unknown"})
            return
        if path == "/remove":
            sched.remove(cluster, str(body.get("reason") or "removed"))
        elif path == "/hold":
            sched.hold(cluster, str(body.get("reason") or "held"))
        elif path == "/release":
            sched.release(cluster)
        else:
            self._reply(404, {"error": f"no such endpoint {path}", "kind": "unknown"})
            return
        self._reply(200, {"ok": True})

    def _submit(self, body: dict[str, Any]) -> None:
        try:
            cluster = self.server.scheduler.submit(
                Path(body["dag_file"]), force=bool(body.get("force")), rescue=body.get("rescue"),
                priority=int(body.get("priority") or 0), batch_name=body.get("batch_name"),
                max_idle=body.get("max_idle"), max_jobs=body.get("max_jobs"), load_save=body.get("load_save"),
            )
        except (DagParseError, SubmitRefused, SubmitError, ConfigError, OSError) as exc:
            self._reply(400, {"error": str(exc), "kind": "bad_dag"})
            return
        self._reply(200, {"cluster": cluster})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], scheduler: Scheduler) -> None:
        super().__init__(address, _Handler)
        self.scheduler = scheduler


class AlreadyRunning(RuntimeError):
    """Another daemon owns this spool directory."""


def _lock_spool(spool: Path) -> IO[str]:
    """One daemon per spool: an exclusive lock held for the daemon's lifetime."""
    handle = open(spool / LOCK_FILE, "a")  # noqa: SIM115 - held until the process exits
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise AlreadyRunning(f"another pool daemon owns {spool}") from None
    return handle


@dataclass(frozen=True)
class DaemonTimers:
    """The daemon's idle waits (``settings.engine``); events (exits, commands) never wait for them."""

    idle_wait_s: float = IDLE_WAIT_S
    periodic_s: float = PERIODIC_INTERVAL_S
    status_scan_s: float = STATUS_SCAN_S
    server_poll_s: float = SERVER_POLL_S
    spool_check_s: float = SPOOL_CHECK_S


def serve(spool: Path, slots: list[Slot], host: str = "127.0.0.1", port: int = 0, cycle_s: float = 0.0,
          timers: DaemonTimers | None = None) -> None:
    timers = timers or DaemonTimers()
    spool.mkdir(parents=True, exist_ok=True)
    lock = _lock_spool(spool)
    (spool / PID_FILE).write_text(f"{os.getpid()}\n")
    scheduler = Scheduler(spool, slots, cycle_s, timers.idle_wait_s, timers.periodic_s, timers.status_scan_s)
    recovered = recover_all(scheduler)
    if recovered:
        log.info("recovered DAGs %s", recovered)
    scheduler.start()
    server = _Server((host, port), scheduler)
    tmp = spool / (PORT_FILE + ".tmp")
    tmp.write_text(f"{server.server_address[1]}\n")
    tmp.replace(spool / PORT_FILE)

    def _term(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _term)
    threading.Thread(target=_watch_spool, args=(spool, server, timers.spool_check_s), name="wms2-spool-watch",
                     daemon=True).start()
    try:
        server.serve_forever(poll_interval=timers.server_poll_s)
    finally:
        scheduler.stop()
        (spool / PORT_FILE).unlink(missing_ok=True)
        (spool / PID_FILE).unlink(missing_ok=True)
        lock.close()


def _watch_spool(spool: Path, server: _Server, period_s: float) -> None:
    """Stop when our spool was deleted or taken over (its pid file no longer names us), instead of
    lingering as an orphan nobody can reach."""
    while True:
        time.sleep(period_s)
        try:
            owner = int((spool / PID_FILE).read_text().strip())
        except (OSError, ValueError):
            owner = -1
        if owner != os.getpid():
            log.warning("spool %s is gone or owned by pid %s: shutting down", spool, owner)
            server.shutdown()
            return


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="WMS2 local pool daemon")
    parser.add_argument("--spool", required=True, type=Path)
    parser.add_argument("--sites", required=True, help="JSON list of {name, cores, memory_mb, slots}")
    parser.add_argument("--oversubscribe", type=float, default=1.0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cycle", type=float, default=0.0)
    defaults = DaemonTimers()
    for flag, field in (("--idle-wait", "idle_wait_s"), ("--periodic", "periodic_s"),
                        ("--status-scan", "status_scan_s"), ("--server-poll", "server_poll_s"),
                        ("--spool-check", "spool_check_s")):
        parser.add_argument(flag, dest=field, type=float, default=getattr(defaults, field), help="seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    slots = slots_from_sites(json.loads(args.sites), args.oversubscribe)
    try:
        timers = DaemonTimers(args.idle_wait_s, args.periodic_s, args.status_scan_s, args.server_poll_s,
                              args.spool_check_s)
        serve(args.spool, slots, args.host, args.port, args.cycle, timers)
    except AlreadyRunning as exc:
        log.error("%s", exc)
        raise SystemExit(1) from exc


def slots_from_sites(sites: list[dict[str, Any]], oversubscribe: float) -> list[Slot]:
    slots: list[Slot] = []
    for site in sites:
        count = int(site.get("slots", 1))
        cores, memory = int(site["cores"]), int(site["memory_mb"])
        slots.append(Slot(site=site["name"], cores=cores, memory_mb=memory,
                          cap_cpus=cores * count * oversubscribe, cap_memory=memory * count * oversubscribe))
    return slots


if __name__ == "__main__":
    main()
