"""Client side of the local pool: ``LocalEngine`` (the ``Engine`` interface over the daemon's HTTP
API), and helpers to start, stop and inspect the daemon."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from wms2.config import Settings
from wms2.engines.base import (
    BadDag,
    DagExitInfo,
    DagJobInfo,
    DagJobState,
    Engine,
    EngineError,
    JobUnknown,
    ScheddUnreachable,
    SubmitOptions,
    SubmitResult,
)
from wms2.engines.local.daemon import PID_FILE, PORT_FILE
from wms2.procs import process_alive

SCHEDD_NAME = "local"
HTTP_TIMEOUT_S = 30.0
LONG_POLL_S = 10.0  # one /wait request blocks at most this long (below HTTP_TIMEOUT_S)
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 15.0
_STATES = {"running": DagJobState.running, "held": DagJobState.held, "done": DagJobState.gone}


class PoolClient:
    """Minimal JSON-over-HTTP client; the port is re-read from the spool on every call, so a daemon
    restart on another port is picked up."""

    def __init__(self, spool: Path, host: str = "127.0.0.1") -> None:
        self.spool = spool
        self.host = host

    def port(self) -> int:
        try:
            return int((self.spool / PORT_FILE).read_text().strip())
        except (OSError, ValueError):
            raise ScheddUnreachable(f"local pool is not running (no {self.spool / PORT_FILE})") from None

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        url = f"http://{self.host}:{self.port()}{path}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read() or b"{}")
            except ValueError:
                payload = {"error": str(exc)}
            return exc.code, payload
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            raise ScheddUnreachable(f"local pool at {url} did not answer: {exc}") from exc

    def ping(self) -> dict[str, Any] | None:
        try:
            code, body = self.request("GET", "/ping")
        except ScheddUnreachable:
            return None
        return body if code == 200 else None


def _check(code: int, body: dict[str, Any], cluster: int | None = None) -> dict[str, Any]:
    if code == 200:
        return body
    kind = body.get("kind")
    if kind == "bad_dag":
        raise BadDag(str(body.get("error")))
    if code == 404:
        raise JobUnknown(f"no DAG job {cluster} in the local pool")
    raise EngineError(f"local pool error {code}: {body.get('error')}")


class LocalEngine(Engine):
    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = PoolClient(settings.pool_dir, settings.engine.pool_host)

    def submit_dag(self, dag_file: Path, options: SubmitOptions) -> SubmitResult:
        code, body = self.client.request("POST", "/submit", {
            "dag_file": str(Path(dag_file).absolute()), "force": options.force, "rescue": options.rescue,
            "priority": options.priority, "batch_name": options.batch_name, "max_idle": options.max_idle,
            "max_jobs": options.max_jobs, "load_save": options.load_save,
        })
        return SubmitResult(cluster_id=int(_check(code, body)["cluster"]), schedd=SCHEDD_NAME)

    def _info(self, cluster_id: int) -> dict[str, Any]:
        code, body = self.client.request("GET", f"/query?cluster={int(cluster_id)}")
        return _check(code, body, cluster_id)

    def query(self, cluster_id: int, schedd: str) -> DagJobInfo:
        info = self._info(cluster_id)
        state = _STATES.get(str(info.get("state")), DagJobState.gone)
        return DagJobInfo(
            cluster_id=cluster_id, schedd=SCHEDD_NAME, state=state,
            counters={k: int(v) for k, v in (info.get("counters") or {}).items()},
            status=info.get("DAG_Status", info.get("dag_status")),
            hold_reason=info.get("reason") if state == DagJobState.held else None,
            unmatched=dict(info.get("unmatched") or {}),
        )

    def _act(self, action: str, cluster_id: int, reason: str | None = None) -> None:
        code, body = self.client.request("POST", f"/{action}", {"cluster": int(cluster_id), "reason": reason})
        _check(code, body, cluster_id)

    def remove(self, cluster_id: int, schedd: str, reason: str) -> None:
        self._act("remove", cluster_id, reason)

    def hold(self, cluster_id: int, schedd: str, reason: str) -> None:
        self._act("hold", cluster_id, reason)

    def release(self, cluster_id: int, schedd: str) -> None:
        self._act("release", cluster_id)

    def ping(self, schedd: str) -> bool:
        return self.client.ping() is not None

    def exit_info(self, cluster_id: int, schedd: str) -> DagExitInfo:
        return _exit_info(cluster_id, self._info(cluster_id))

    def wait(self, cluster_id: int, timeout: float | None = None, poll: float = 0.2) -> DagExitInfo:
        """Block until the DAG leaves the queue (used by ``wms2 dag run --wait`` and tests).

        The daemon's ``/wait`` answers as soon as the DAG job is done (a long poll, no latency); ``poll``
        is the re-check period against a daemon without it.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = LONG_POLL_S if deadline is None else min(LONG_POLL_S, deadline - time.monotonic())
            code, body = self.client.request("GET", f"/wait?cluster={int(cluster_id)}&timeout={max(left, 0.0):.3f}")
            old_daemon = code == 404 and str(body.get("error", "")).startswith("no such endpoint")
            body = self._info(cluster_id) if old_daemon else _check(code, body, cluster_id)
            info = _exit_info(cluster_id, body)
            if info.exit_code is not None:
                return info
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"DAG {cluster_id} still running after {timeout} s")
            if old_daemon or body.get("state") == "done":  # the long poll did not wait
                time.sleep(poll)


def _exit_info(cluster_id: int, info: dict[str, Any]) -> DagExitInfo:
    if info.get("state") != "done":
        return DagExitInfo(cluster_id, SCHEDD_NAME, None, False, "still in the queue")
    exit_code = info.get("exit_code")
    return DagExitInfo(cluster_id, SCHEDD_NAME, exit_code, removed=info.get("dag_status") == 4,
                       reason=str(info.get("reason") or ""))


def daemon_command(settings: Settings) -> list[str]:
    eng = settings.engine
    sites = [{"name": s.name, "cores": s.cores, "memory_mb": s.memory_mb, "slots": s.slots} for s in eng.local_sites]
    return [sys.executable, "-m", "wms2.engines.local.daemon", "--spool", str(settings.pool_dir),
            "--sites", json.dumps(sites), "--oversubscribe", str(eng.oversubscribe),
            "--host", eng.pool_host, "--port", str(eng.pool_port), "--cycle", str(eng.submit_interval_s),
            "--idle-wait", str(eng.loop_idle_wait_s), "--periodic", str(eng.periodic_interval_s),
            "--status-scan", str(eng.status_scan_s), "--server-poll", str(eng.server_poll_s),
            "--spool-check", str(eng.spool_check_s)]


def ensure_pool_running(settings: Settings) -> dict[str, Any]:
    """Start the daemon unless it answers already; returns its ping answer."""
    client = PoolClient(settings.pool_dir, settings.engine.pool_host)
    answer = client.ping()
    if answer is not None:
        return answer
    settings.pool_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.pool_dir / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        answer = client.ping()
        if answer is not None:
            return answer
        pid = _daemon_pid(settings)
        if pid is None or not _is_daemon(pid):  # else it is still starting (recovering): just wait
            _spawn_daemon(settings)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            answer = client.ping()
            if answer is not None:
                return answer
            time.sleep(settings.engine.client_poll_s)
    raise ScheddUnreachable(f"local pool did not answer within {START_TIMEOUT_S} s; see "
                            f"{settings.pool_dir / 'daemon.log'}")


def _spawn_daemon(settings: Settings) -> None:
    (settings.pool_dir / PORT_FILE).unlink(missing_ok=True)
    with open(settings.pool_dir / "daemon.log", "ab") as logfile:
        # "sh -c 'cmd &'" detaches the daemon (re-parented to init), so it never becomes a zombie of
        # the process that started it, which may live on (``wms2 serve``) or die first.
        launcher = subprocess.Popen(["/bin/sh", "-c", '"$@" &', "wms2-pool", *daemon_command(settings)],
                                    stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True)
        launcher.wait()


def _is_daemon(pid: int) -> bool:
    """The pid file may be stale and its pid reused: check the process is our daemon."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"wms2.engines.local.daemon" in cmdline and process_alive(pid)


def _daemon_pid(settings: Settings) -> int | None:
    try:
        return int((settings.pool_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None



def stop_pool(settings: Settings) -> bool:
    """Ask the daemon to stop (running DAGs are recovered at its next start); True if one ran."""
    client = PoolClient(settings.pool_dir, settings.engine.pool_host)
    pid = _daemon_pid(settings)
    if client.ping() is None and pid is None:
        return False
    with contextlib.suppress(ScheddUnreachable):
        client.request("POST", "/shutdown", {})
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while pid is not None and process_alive(pid) and time.monotonic() < deadline:
        time.sleep(settings.engine.client_poll_s)
    if pid is not None and process_alive(pid):
        os.kill(pid, signal.SIGTERM)
    return True


def pool_status(settings: Settings) -> dict[str, Any]:
    client = PoolClient(settings.pool_dir, settings.engine.pool_host)
    answer = client.ping()
    if answer is None:
        return {"running": False, "spool": str(settings.pool_dir)}
    code, body = client.request("GET", "/list")
    dags = body.get("dags", []) if code == 200 else []
    return {"running": True, **answer, "port": client.port(),
            "active": [d for d in dags if d.get("state") in ("running", "held")], "total_dags": len(dags)}
