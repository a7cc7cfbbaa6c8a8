"""Client side of the local pools: ``LocalEngine`` (the ``Engine`` interface over the daemons' HTTP
API, one daemon per pool of ``engine.local_pools``), and helpers to start, stop and inspect them."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
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
from wms2.engines.local.pools import DEFAULT_POOL, pool_names, pool_port, pool_spool
from wms2.engines.placement import ScheddCaps, ScheddLoad, place_dag
from wms2.procs import process_alive

log = logging.getLogger(__name__)
HTTP_TIMEOUT_S = 30.0
LOCK_SUFFIX = ".lock"  # <dag>.lock, written by a running DAGMan (the local one writes its cluster id)
LONG_POLL_S = 10.0  # one /wait request blocks at most this long (below HTTP_TIMEOUT_S)
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 15.0
_STATES = {"running": DagJobState.running, "held": DagJobState.held, "done": DagJobState.gone}


class PoolClient:
    """Minimal JSON-over-HTTP client; the port is re-read from the spool on every call, so a daemon
    restart on another port is picked up."""

    def __init__(self, spool: Path, host: str = "127.0.0.1", name: str = DEFAULT_POOL) -> None:
        self.spool = spool
        self.host = host
        self.name = name

    def port(self) -> int:
        try:
            return int((self.spool / PORT_FILE).read_text().strip())
        except (OSError, ValueError):
            raise ScheddUnreachable(f"local pool {self.name} is not running (no {self.spool / PORT_FILE})") from None

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
            raise ScheddUnreachable(f"local pool {self.name} at {url} did not answer: {exc}") from exc

    def ping(self) -> dict[str, Any] | None:
        try:
            code, body = self.request("GET", "/ping")
        except ScheddUnreachable:
            return None
        return body if code == 200 else None

    def load(self) -> ScheddLoad:
        """Active top-level DAGs and queued jobs of this pool (its ``/ping``); raises ScheddUnreachable."""
        code, body = self.request("GET", "/ping")
        if code != 200:
            raise ScheddUnreachable(f"local pool {self.name}: ping answered {code}: {body.get('error')}")
        return ScheddLoad(self.name, int(body.get("active_dags", body.get("dags", 0))), int(body.get("jobs", 0)))


def _check(code: int, body: dict[str, Any], cluster: int | None = None, pool: str = DEFAULT_POOL) -> dict[str, Any]:
    if code == 200:
        return body
    kind = body.get("kind")
    if kind == "bad_dag":
        raise BadDag(str(body.get("error")))
    if code == 404:
        raise JobUnknown(f"no DAG job {cluster} in the local pool {pool}")
    raise EngineError(f"local pool {pool} error {code}: {body.get('error')}")


class LocalEngine(Engine):
    """The ``Engine`` over the local pool daemons (``engine.local_pools``): each DAG goes to the pool
    :func:`~wms2.engines.placement.place_dag` picks, its ``schedd`` is that pool's name, and every later
    call goes to that pool.  A pool that does not answer raises ``ScheddUnreachable`` for its own DAGs
    only."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        host = settings.engine.pool_host
        self.pools: dict[str, PoolClient] = {
            name: PoolClient(pool_spool(settings, name), host, name) for name in pool_names(settings)}
        self.client = next(iter(self.pools.values()))  # the first pool (``wms2 dag run``, older callers)
        self._place_lock = threading.Lock()  # one placement at a time: a cap is not overshot by a race

    # Pools ---------------------------------------------------------------------------------------
    def pool(self, schedd: str) -> PoolClient:
        """The client of pool ``schedd``; a name no longer configured is looked for in its old spool."""
        client = self.pools.get(schedd)
        if client is not None:
            return client
        if not schedd:  # a caller without a recorded schedd (single-pool era): the first pool
            return self.client
        if "/" in schedd or schedd.startswith("."):
            raise ScheddUnreachable(f"no local pool named {schedd!r} (engine.local_pools = {list(self.pools)})")
        return PoolClient(pool_spool(self.settings, schedd), self.settings.engine.pool_host, schedd)

    def caps(self) -> ScheddCaps:
        return ScheddCaps(self.settings.engine.schedd_max_dags, self.settings.engine.schedd_max_jobs)

    def pool_loads(self) -> tuple[list[ScheddLoad], dict[str, str]]:
        """The load of every configured pool that answers (configured order), and why the others did not."""
        loads: list[ScheddLoad] = []
        unreachable: dict[str, str] = {}
        for name, client in self.pools.items():
            try:
                loads.append(client.load())
            except ScheddUnreachable as exc:
                log.warning("local pool %s left out of the placement: %s", name, exc)
                unreachable[name] = str(exc)
        return loads, unreachable

    def choose_pool(self) -> str:
        caps = self.caps()
        if len(self.pools) == 1 and caps == ScheddCaps():
            return self.client.name  # one pool, no cap: nothing to measure (the submit reports a dead pool)
        loads, unreachable = self.pool_loads()
        return place_dag(loads, caps, unreachable)

    def _lock_holder(self, dag_file: Path) -> str | None:
        """The pool whose DAGMan runs ``dag_file`` now, from the DAG's lock file (``<dag>.lock`` names
        the cluster, as DAGMan's does).  A second submission of a running DAG goes to that pool, which
        refuses it like DAGMan; placed by load, it could start a second DAGMan on another pool (e.g.
        after a crash between a submission and its commit).  A lock whose holder is on a pool that does
        not answer raises ScheddUnreachable rather than risk the duplicate."""
        try:
            cluster = int(dag_file.with_name(dag_file.name + LOCK_SUFFIX).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None  # no lock: no DAGMan runs this file
        silent: list[str] = []
        for name, client in self.pools.items():
            try:
                code, info = client.request("GET", f"/query?cluster={cluster}")
            except ScheddUnreachable:
                silent.append(name)
                continue
            if code == 200 and info.get("dag_file") == str(dag_file) and info.get("state") != "done":
                return name
        if silent:
            raise ScheddUnreachable(f"{dag_file} is locked by cluster {cluster} and local pool(s)"
                                    f" {', '.join(silent)} do not answer: it may run there")
        return None  # a stale lock (its DAGMan ended without removing it): place by load

    # Engine interface ----------------------------------------------------------------------------
    def submit_dag(self, dag_file: Path, options: SubmitOptions) -> SubmitResult:
        body = {
            "dag_file": str(Path(dag_file).absolute()), "force": options.force, "rescue": options.rescue,
            "priority": options.priority, "batch_name": options.batch_name, "max_idle": options.max_idle,
            "max_jobs": options.max_jobs, "load_save": options.load_save,
        }
        with self._place_lock:
            client = self.pools[self._lock_holder(Path(body["dag_file"])) or self.choose_pool()]
            code, answer = client.request("POST", "/submit", body)
        return SubmitResult(cluster_id=int(_check(code, answer, pool=client.name)["cluster"]), schedd=client.name)

    def find_submitted(self, batch_name: str) -> SubmitResult | None:
        """Asked of every pool (``GET /find``); a pool that does not answer raises ScheddUnreachable,
        since the submission may be there."""
        found: list[SubmitResult] = []
        for name, client in self.pools.items():
            code, answer = client.request("GET", "/find?" + urllib.parse.urlencode({"batch_name": batch_name}))
            if code == 404:
                raise EngineError(f"local pool {name} has no /find (a daemon older than this WMS2): restart it"
                                  " (wms2 pool stop; wms2 pool start)")
            found += [SubmitResult(cluster_id=int(c), schedd=name) for c in _check(code, answer, pool=name)["clusters"]]
        return found[-1] if found else None

    def _info(self, cluster_id: int, schedd: str) -> dict[str, Any]:
        client = self.pool(schedd)
        code, body = client.request("GET", f"/query?cluster={int(cluster_id)}")
        return _check(code, body, cluster_id, client.name)

    def query(self, cluster_id: int, schedd: str) -> DagJobInfo:
        info = self._info(cluster_id, schedd)
        state = _STATES.get(str(info.get("state")), DagJobState.gone)
        return DagJobInfo(
            cluster_id=cluster_id, schedd=schedd, state=state,
            counters={k: int(v) for k, v in (info.get("counters") or {}).items()},
            status=info.get("DAG_Status", info.get("dag_status")),
            hold_reason=info.get("reason") if state == DagJobState.held else None,
            unmatched=dict(info.get("unmatched") or {}),
        )

    def _act(self, action: str, cluster_id: int, schedd: str, reason: str | None = None) -> None:
        client = self.pool(schedd)
        code, body = client.request("POST", f"/{action}", {"cluster": int(cluster_id), "reason": reason})
        _check(code, body, cluster_id, client.name)

    def remove(self, cluster_id: int, schedd: str, reason: str) -> None:
        self._act("remove", cluster_id, schedd, reason)

    def hold(self, cluster_id: int, schedd: str, reason: str) -> None:
        self._act("hold", cluster_id, schedd, reason)

    def release(self, cluster_id: int, schedd: str) -> None:
        self._act("release", cluster_id, schedd)

    def ping(self, schedd: str) -> bool:
        return self.pool(schedd).ping() is not None

    def exit_info(self, cluster_id: int, schedd: str) -> DagExitInfo:
        return _exit_info(cluster_id, schedd, self._info(cluster_id, schedd))

    def wait(self, cluster_id: int, timeout: float | None = None, poll: float = 0.2,
             schedd: str | None = None) -> DagExitInfo:
        """Block until the DAG leaves the queue of pool ``schedd`` (default: the first pool); used by
        ``wms2 dag run --wait`` and tests.

        The daemon's ``/wait`` answers as soon as the DAG job is done (a long poll, no latency); ``poll``
        is the re-check period against a daemon without it.
        """
        client = self.pool(schedd) if schedd is not None else self.client
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = LONG_POLL_S if deadline is None else min(LONG_POLL_S, deadline - time.monotonic())
            code, body = client.request("GET", f"/wait?cluster={int(cluster_id)}&timeout={max(left, 0.0):.3f}")
            old_daemon = code == 404 and str(body.get("error", "")).startswith("no such endpoint")
            body = self._info(cluster_id, client.name) if old_daemon else _check(code, body, cluster_id, client.name)
            info = _exit_info(cluster_id, client.name, body)
            if info.exit_code is not None:
                return info
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"DAG {cluster_id} still running after {timeout} s")
            if old_daemon or body.get("state") == "done":  # the long poll did not wait
                time.sleep(poll)


def _exit_info(cluster_id: int, schedd: str, info: dict[str, Any]) -> DagExitInfo:
    if info.get("state") != "done":
        return DagExitInfo(cluster_id, schedd, None, False, "still in the queue")
    exit_code = info.get("exit_code")
    return DagExitInfo(cluster_id, schedd, exit_code, removed=info.get("dag_status") == 4,
                       reason=str(info.get("reason") or ""))


def daemon_command(settings: Settings, pool: str = DEFAULT_POOL) -> list[str]:
    eng = settings.engine
    sites = [{"name": s.name, "cores": s.cores, "memory_mb": s.memory_mb, "slots": s.slots} for s in eng.local_sites]
    return [sys.executable, "-m", "wms2.engines.local.daemon", "--spool", str(pool_spool(settings, pool)),
            "--sites", json.dumps(sites), "--oversubscribe", str(eng.oversubscribe),
            "--host", eng.pool_host, "--port", str(pool_port(settings, pool)), "--cycle", str(eng.submit_interval_s),
            "--idle-wait", str(eng.loop_idle_wait_s), "--periodic", str(eng.periodic_interval_s),
            "--status-scan", str(eng.status_scan_s), "--server-poll", str(eng.server_poll_s),
            "--spool-check", str(eng.spool_check_s)]


def ensure_pool_running(settings: Settings, pool: str | None = None) -> dict[str, Any]:
    """Start the daemon of ``pool`` unless it answers already, and return its ping answer.

    ``pool=None``: every configured pool (``engine.local_pools``), started together; the answer is the
    first pool's, plus ``"pools": {name: answer or None}`` when there are several.  With several pools,
    one that does not start is logged and left out (like a schedd that is down); it raises only when
    none answers.
    """
    names = [pool] if pool is not None else pool_names(settings)
    answers: dict[str, dict[str, Any] | None] = {}
    errors: list[str] = []
    with contextlib.ExitStack() as locks:  # taken in configured order by every starter: no deadlock
        waiting: list[str] = []
        for name in names:
            try:
                if not _start_locked(settings, name, locks, answers):
                    waiting.append(name)
            except OSError as exc:  # e.g. its spool cannot be created
                answers[name] = None
                errors.append(f"local pool {name} cannot start: {exc}")
        for name in waiting:
            answers[name] = _await_daemon(settings, name)
            if answers[name] is None:
                errors.append(f"local pool {name} did not answer within {START_TIMEOUT_S} s; see "
                              f"{pool_spool(settings, name) / 'daemon.log'}")
    if len(names) == 1:
        answer = answers[names[0]]
        if answer is None:
            raise ScheddUnreachable(errors[0])
        return answer
    for error in errors:
        log.error("%s", error)
    first = next((a for a in answers.values() if a is not None), None)
    if first is None:
        raise ScheddUnreachable("no local pool started: " + "; ".join(errors))
    return {**first, "pools": answers}


def _start_locked(settings: Settings, pool: str, locks: contextlib.ExitStack,
                  answers: dict[str, dict[str, Any] | None]) -> bool:
    """True (answer stored) when the daemon answers already; else the pool's start lock is held (until
    ``locks`` closes) and the daemon spawned unless one is starting (recovering)."""
    spool = pool_spool(settings, pool)
    client = PoolClient(spool, settings.engine.pool_host, pool)
    answer = client.ping()
    if answer is None:
        spool.mkdir(parents=True, exist_ok=True)
        lock = locks.enter_context(open(spool / "start.lock", "w"))  # noqa: SIM115 - closed by the stack
        fcntl.flock(lock, fcntl.LOCK_EX)
        answer = client.ping()
    if answer is not None:
        answers[pool] = answer
        return True
    pid = _daemon_pid(spool)
    if pid is None or not _is_daemon(pid):
        _spawn_daemon(settings, pool)
    return False


def _await_daemon(settings: Settings, pool: str) -> dict[str, Any] | None:
    client = PoolClient(pool_spool(settings, pool), settings.engine.pool_host, pool)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        answer = client.ping()
        if answer is not None:
            return answer
        time.sleep(settings.engine.client_poll_s)
    return None


def _spawn_daemon(settings: Settings, pool: str) -> None:
    spool = pool_spool(settings, pool)
    (spool / PORT_FILE).unlink(missing_ok=True)
    with open(spool / "daemon.log", "ab") as logfile:
        # "sh -c 'cmd &'" detaches the daemon (re-parented to init), so it never becomes a zombie of
        # the process that started it, which may live on (``wms2 serve``) or die first.
        launcher = subprocess.Popen(["/bin/sh", "-c", '"$@" &', "wms2-pool", *daemon_command(settings, pool)],
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


def _daemon_pid(spool: Path) -> int | None:
    try:
        return int((spool / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def daemon_pid(settings: Settings, pool: str = DEFAULT_POOL) -> int | None:
    """The pid of pool ``pool``'s daemon when it runs (its pid file names a live daemon), else None."""
    pid = _daemon_pid(pool_spool(settings, pool))
    return pid if pid is not None and _is_daemon(pid) else None


def stop_pool(settings: Settings, pool: str | None = None) -> bool:
    """Ask the daemon of ``pool`` (None: of every configured pool, together) to stop; running DAGs are
    recovered at its next start.  True if one ran."""
    names = [pool] if pool is not None else pool_names(settings)
    asked = [_ask_stop(settings, name) for name in names]
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for _ran, pid in asked:
        while pid is not None and process_alive(pid) and time.monotonic() < deadline:
            time.sleep(settings.engine.client_poll_s)
        if pid is not None and process_alive(pid):
            os.kill(pid, signal.SIGTERM)
    return any(ran for ran, _pid in asked)


def _ask_stop(settings: Settings, pool: str) -> tuple[bool, int | None]:
    """Send ``/shutdown``; returns (a daemon ran, its pid)."""
    spool = pool_spool(settings, pool)
    client = PoolClient(spool, settings.engine.pool_host, pool)
    pid = _daemon_pid(spool)
    if client.ping() is None and pid is None:
        return False, None
    with contextlib.suppress(ScheddUnreachable):
        client.request("POST", "/shutdown", {})
    return True, pid


def pool_status(settings: Settings, pool: str | None = None) -> dict[str, Any]:
    """Status of pool ``pool``; None: of the first configured pool, plus, when there are several,
    ``"pools": {name: status}`` and ``active`` / ``total_dags`` over all of them."""
    if pool is not None:
        return _status_one(settings, pool)
    names = pool_names(settings)
    first = _status_one(settings, names[0])
    if len(names) == 1:
        return first
    each = {names[0]: first, **{name: _status_one(settings, name) for name in names[1:]}}
    active = [{**dag, "pool": name} for name, info in each.items() for dag in info.get("active", [])]
    return {**first, "running": any(info["running"] for info in each.values()), "pools": each,
            "active": active, "total_dags": sum(int(info.get("total_dags", 0)) for info in each.values())}


def _status_one(settings: Settings, pool: str) -> dict[str, Any]:
    spool = pool_spool(settings, pool)
    client = PoolClient(spool, settings.engine.pool_host, pool)
    answer = client.ping()
    if answer is None:
        return {"running": False, "spool": str(spool), "pool": pool}
    code, body = client.request("GET", "/list")
    dags = body.get("dags", []) if code == 200 else []
    return {"running": True, **answer, "pool": pool, "port": client.port(),
            "active": [d for d in dags if d.get("state") in ("running", "held")], "total_dags": len(dags)}
