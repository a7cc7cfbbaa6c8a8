"""Start, stop and query a real local ReqMgr2 (WMCore's REST server on a pouchdb-server CouchDB stand-in).

Facts this follows: ``/work/shared/design/reqmgr2-local.md``.  Layout of a home directory::

    DIR/state.json        what is running: pids, ports, URLs, key files (read by stop/status and the tests)
    DIR/couch/            pouchdb-server's data, config and log
    DIR/reqmgr2/          ReqMgr2's state directory, settings.json for the launcher, its log
    DIR/hmac.key          the front-end HMAC key ReqMgr2 trusts (tests sign cms-auth-* headers with it)
    DIR/cert.pem, key.pem a self-signed X.509 pair (WMCore insists on one even over plain http)

Both servers run in their own process groups (``start_new_session``); ``stop`` signals those groups by
the ids recorded in ``state.json``, never by name.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from wms2.devservices.reqmgr2.couch import CouchSetup, CouchSetupError
from wms2.devservices.reqmgr2.install import Installation, ensure_installed
from wms2.procs import log_tail, process_alive, stop_process_group

START_TIMEOUT_S = 120.0  # ReqMgr2 starts in ~15 s on an idle machine (reqmgr2-local.md); generous under load
STOP_TIMEOUT_S = 15.0
POLL_S = 0.5
SERVER_THREADS = 10  # CherryPy threads: tests and one WMS2 instance never need more
# The releases and architectures the local release list announces; request documents must use them.
RELEASES: dict[str, list[str]] = {"el8_amd64_gcc11": ["CMSSW_13_0_0", "CMSSW_12_4_0"],
                                  "el9_amd64_gcc12": ["CMSSW_14_0_0"]}
DATA_TIERS = ["GEN", "SIM", "GEN-SIM", "DIGI", "RAW", "RECO", "AOD", "AODSIM", "MINIAOD", "MINIAODSIM",
              "NANOAOD", "NANOAODSIM", "GEN-SIM-RAW", "GEN-SIM-DIGI-RAW", "DQMIO", "ALCARECO", "USER"]
# Who may move a request to which status (AuthzByStatus needs every status under one of the three
# permissions, plus NO_STATUS for non-status updates).  Locally one "admin" role in group "reqmgr" may do all.
ALL_STATUSES = ["new", "assignment-approved", "assigned", "staging", "staged", "acquired", "running-open",
                "running-closed", "failed", "force-complete", "completed", "closed-out", "announced", "aborted",
                "aborted-completed", "rejected", "normal-archived", "aborted-archived", "rejected-archived"]
AUTHZ_ROLE = {"role": ["admin"], "group": ["reqmgr"]}


class ReqMgr2ServerError(RuntimeError):
    """The local ReqMgr2 cannot be installed, started or stopped; the message says what failed."""


@dataclass(frozen=True)
class Paths:
    home: Path

    @property
    def state(self) -> Path:
        return self.home / "state.json"

    @property
    def couch(self) -> Path:
        return self.home / "couch"

    @property
    def reqmgr(self) -> Path:
        return self.home / "reqmgr2"

    @property
    def hmac_key(self) -> Path:
        return self.home / "hmac.key"

    @property
    def cert(self) -> Path:
        return self.home / "cert.pem"

    @property
    def key(self) -> Path:
        return self.home / "key.pem"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no obstacle
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(paths: Paths) -> tuple[int, int, int]:
    """The ports of the previous start when they are free (a restart keeps the URL), else new ones."""
    saved = paths.home / "ports.json"
    if saved.is_file():
        ports = json.loads(saved.read_text())
        if len(ports) == 3 and all(_port_free(p) for p in ports):
            return ports[0], ports[1], ports[2]
    ports = [_free_port(), _free_port(), _free_port()]
    saved.write_text(json.dumps(ports))
    return ports[0], ports[1], ports[2]



def read_state(home: Path) -> dict[str, Any] | None:
    path = Paths(home).state
    if not path.is_file():
        return None
    return dict(json.loads(path.read_text()))


def status(home: Path) -> dict[str, Any]:
    """``{"running": bool, ...state}``: running means both processes live and ReqMgr2 answers."""
    state = read_state(home)
    if state is None:
        return {"running": False, "home": str(home)}
    alive = all(process_alive(pid) for pid in (state["couch_pid"], state["reqmgr2_pid"]))
    answers = alive and _answers(f"{state['url']}/data/status")
    return {**state, "running": bool(answers)}


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, headers={"Accept": "application/json"}, timeout=5.0).status_code == httpx.codes.OK
    except httpx.HTTPError:
        return False


def _self_signed(paths: Paths) -> None:
    if paths.cert.is_file() and paths.key.is_file():
        return
    cmd = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=wms2-dev",
           "-keyout", str(paths.key), "-out", str(paths.cert)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ReqMgr2ServerError(f"openssl could not make a self-signed certificate: {result.stderr.strip()}")


def _ca_dir(paths: Paths) -> Path:
    ca = paths.home / "ca"
    ca.mkdir(exist_ok=True)
    (ca / "wms2-dev.pem").write_bytes(paths.cert.read_bytes())
    return ca


def _spawn(cmd: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> int:
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    return proc.pid


def _wait(url: str, pid: int, what: str, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process_alive(pid):
            raise ReqMgr2ServerError(f"{what} exited while starting; see {log}:\n{log_tail(log)}")
        if _answers(url):
            return
        time.sleep(POLL_S)
    raise ReqMgr2ServerError(f"{what} did not answer {url} within {timeout_s:.0f} s; see {log}:\n{log_tail(log)}")



def launcher_path() -> Path:
    return Path(str(resources.files("wms2.devservices.reqmgr2").joinpath("launch_reqmgr2.py")))


def _launcher_settings(paths: Paths, port: int, couch_url: str, outside_port: int) -> dict[str, Any]:
    """What launch_reqmgr2.py needs: ports, CouchDB, key file, local answers, authorisation."""
    outside = f"http://127.0.0.1:{outside_port}"
    return {
        "port": port, "couch_url": couch_url, "outside_port": outside_port, "state_dir": str(paths.reqmgr),
        "hmac_key_file": str(paths.hmac_key), "thread_pool": SERVER_THREADS,
        "releases": RELEASES, "data_tiers": DATA_TIERS,
        "releases_url": f"{outside}/SDT/cgi-bin/ReleasesXML",
        "dbs_url": f"{outside}/dbs/prod/global/DBSReader",
        "default_release": RELEASES["el8_amd64_gcc11"][0], "default_arch": "el8_amd64_gcc11",
        # ReqMgr2 wants each of its three permissions used; all three map to the same local role.
        "authz_by_status": [{"permission": "admin", "statuses": [*ALL_STATUSES[:-2], "NO_STATUS"]},
                            {"permission": "ops", "statuses": ALL_STATUSES[-2:-1]},
                            {"permission": "ppd", "statuses": ALL_STATUSES[-1:]}],
        "authorized_roles": {"admin": AUTHZ_ROLE, "ops": AUTHZ_ROLE, "ppd": AUTHZ_ROLE},
    }


def start(home: Path, timeout_s: float = START_TIMEOUT_S) -> dict[str, Any]:
    """Start (or find running) a ReqMgr2 for ``home``; returns the state with at least ``url``."""
    home = home.absolute()
    current = status(home)
    if current["running"]:
        return current
    if read_state(home) is not None:
        stop(home)
    paths = Paths(home)
    install: Installation = ensure_installed()
    for d in (paths.couch, paths.reqmgr):
        d.mkdir(parents=True, exist_ok=True)
    if not paths.hmac_key.is_file():
        paths.hmac_key.write_text(secrets.token_hex(20))
        paths.hmac_key.chmod(0o600)
    _self_signed(paths)
    couch_port, port, outside_port = _ports(paths)
    couch_url = f"http://127.0.0.1:{couch_port}"
    couch_log = paths.couch / "pouchdb-server.log"
    couch_pid = _spawn([str(install.pouchdb_server), "--host", "127.0.0.1", "--port", str(couch_port),
                        "--dir", str(paths.couch)], paths.couch, couch_log)
    state: dict[str, Any] = {"home": str(home), "couch_url": couch_url, "couch_pid": couch_pid}
    paths.state.write_text(json.dumps(state))
    try:
        _wait(couch_url, couch_pid, "pouchdb-server", couch_log, timeout_s)
        CouchSetup(couch_url, install.couchapps).run(RELEASES)
    except (ReqMgr2ServerError, CouchSetupError, httpx.HTTPError):
        stop(home)
        raise
    settings = _launcher_settings(paths, port, couch_url, outside_port)
    settings_file = paths.reqmgr / "settings.json"
    settings_file.write_text(json.dumps(settings, indent=1))
    env = {**os.environ, "DONT_DAEMONIZE_REST": "True", "PYTHONUNBUFFERED": "1",
           "X509_USER_CERT": str(paths.cert), "X509_USER_KEY": str(paths.key),
           "X509_CERT_DIR": str(_ca_dir(paths)),  # the DBS client insists on a CA directory, even over http
           "USER": os.environ.get("USER") or "wms2",  # and reads $USER
           "PATH": f"{install.venv / 'bin'}:{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)
    log = paths.reqmgr / "reqmgr2.log"
    pid = _spawn([str(install.python), str(launcher_path()), str(settings_file)], paths.reqmgr, log, env)
    url = f"http://127.0.0.1:{port}/reqmgr2"  # the REST API is {url}/data (WMS2's reqmgr2.url)
    state.update({"url": url, "data_url": f"{url}/data", "reqmgr2_pid": pid, "port": port,
                  "dbs_url": settings["dbs_url"],
                  "hmac_key_file": str(paths.hmac_key), "cert_file": str(paths.cert), "key_file": str(paths.key),
                  "python": str(install.python), "roles": {"admin": ["reqmgr"]},
                  "releases": RELEASES, "log": str(log)})
    paths.state.write_text(json.dumps(state, indent=1))
    try:
        _wait(f"{url}/data/status", pid, "ReqMgr2", log, timeout_s)
    except ReqMgr2ServerError:
        stop(home)  # leave nothing half-started behind
        raise
    return {**state, "running": True}


def stop(home: Path) -> dict[str, Any]:
    """Stop both servers of ``home`` (idempotent); the data stays for the next start."""
    home = home.absolute()
    state = read_state(home)
    if state is None:
        return {"running": False, "home": str(home)}
    for key in ("reqmgr2_pid", "couch_pid"):
        if isinstance(state.get(key), int):
            stop_process_group(state[key], STOP_TIMEOUT_S)
    Paths(home).state.unlink(missing_ok=True)
    return {**state, "running": False}
