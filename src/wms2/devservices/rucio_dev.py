"""A real Rucio server for tests and trials: PyPI's ``rucio`` in its own venv, under gunicorn, SQLite.

``start(home)`` installs the server venv when missing, writes the configuration under ``home``,
bootstraps the database once, starts gunicorn on a free loopback port (the same port again on a
restart when it is free), then creates what WMS2 needs through the real client: the ``wms2`` service
account (userpass, admin), the ``cms`` scope, one RSE per local site with a POSIX protocol on a local
directory, RSE attributes and account limits.  ``stop(home)`` ends the server; ``status(home)`` reads it.

Facts and pitfalls: ``/work/shared/design/cms-formats.md`` §4.3 (rucio 41.5.1).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from wms2.procs import log_tail, process_alive, stop_process_group

RUCIO_VERSION = "41.5.1"  # the version cms-formats.md §4.3 was tested with
GUNICORN_VERSION = "27.0.1"
DEFAULT_VENV = Path.home() / ".cache" / "wms2" / "rucio-venv"
FILES_DIR = Path(__file__).resolve().parent / "rucio_files"
STATE_FILE = "rucio-server.json"
WSGI_APP = "wms2_rucio_wsgi:application"
POLICY_PACKAGE = "WMS2RucioPolicy"
SERVICE_ACCOUNT = "wms2"
SCOPE = "cms"
ROOT_IDENTITY = "ddmlab"  # the bootstrap userpass identity of the root account (Rucio's default name)
GUNICORN_WORKERS = 1  # one process importing Rucio (slow on a loaded machine) ...
GUNICORN_THREADS = 4  # ... serving WMS2 and a test client concurrently
GUNICORN_TIMEOUT_S = 120
READY_TIMEOUT_S = 240.0  # gunicorn is ready in < 5 s on an idle machine (§4.3); 2 min seen under load
STOP_TIMEOUT_S = 20.0
# The RSEs of the default local sites (config.engine.local_sites + output.archival_rse): name, type, tier.
DEFAULT_RSES: tuple[tuple[str, str], ...] = (
    ("T2_XX_SiteA", "DISK"),
    ("T1_XX_SiteB_Disk", "DISK"),
    ("T1_XX_SiteB_Tape", "TAPE"),
)
ACCOUNT_LIMIT_BYTES = 10**15  # 1 PB per RSE: effectively unlimited for tests


class RucioDevError(RuntimeError):
    """The development Rucio server cannot be installed, started, reached or stopped."""


@dataclass
class ServerState:
    """What ``start`` records in ``<home>/rucio-server.json`` (and prints as JSON)."""

    url: str
    account: str
    password: str
    auth_type: str
    scope: str
    pid: int
    port: int
    home: str
    version: str
    client_config: str
    rses: dict[str, str] = field(default_factory=dict)  # RSE -> DISK | TAPE
    root_password: str = ""

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("root_password")
        return out


# -- venv --------------------------------------------------------------------------------------
def venv_dir() -> Path:
    return Path(os.environ.get("WMS2_RUCIO_VENV", str(DEFAULT_VENV)))


def ensure_venv(venv: Path | None = None) -> Path:
    """The server venv, installed from PyPI by ``rucio_files/install-rucio-venv.sh`` when its version
    marker is missing (the script holds a lock, so concurrent starts install once); returns it."""
    venv = venv or venv_dir()
    if (venv / f".installed-{RUCIO_VERSION}").is_file():
        return venv
    env = {**os.environ, "WMS2_RUCIO_VENV": str(venv), "WMS2_RUCIO_VERSION": RUCIO_VERSION,
           "WMS2_RUCIO_GUNICORN_VERSION": GUNICORN_VERSION}
    try:
        subprocess.run(["bash", str(FILES_DIR / "install-rucio-venv.sh")], env=env, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RucioDevError(f"cannot install the Rucio server venv in {venv}: {exc}") from exc
    return venv


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise RucioDevError(f"{venv}: no site-packages directory (broken venv? remove it and retry)")
    return found[0]


# -- configuration ---------------------------------------------------------------------------
def _write_configs(home: Path, venv: Path, root_password: str, port: int) -> Path:
    etc = home / "etc"
    for sub in ("etc", "logs", "trace", "storage"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{home / 'rucio.db'}"
    migrate = _site_packages(venv) / "rucio" / "db" / "sqla" / "migrate_repo"
    (etc / "alembic.ini").write_text("\n".join([  # Rucio's env.py configures logging from this file
        "[alembic]", f"script_location = {migrate}", f"sqlalchemy.url = {db_url}", "",
        "[loggers]", "keys = root", "", "[handlers]", "keys = console", "", "[formatters]", "keys = generic", "",
        "[logger_root]", "level = WARNING", "handlers = console", "",
        "[handler_console]", "class = StreamHandler", "args = (sys.stderr,)", "level = NOTSET",
        "formatter = generic", "", "[formatter_generic]", "format = %%(levelname)s %%(name)s %%(message)s", ""]))
    (etc / "rucio.cfg").write_text("\n".join([
        "[common]", f"logdir = {home / 'logs'}", "loglevel = WARNING", "",
        "[database]", f"default = {db_url}", "", "[alembic]", f"cfg = {etc / 'alembic.ini'}", "",
        "[bootstrap]", f"userpass_identity = {ROOT_IDENTITY}", f"userpass_pwd = {root_password}",
        "userpass_email = root@localhost", "",
        "[policy]", f"package = {POLICY_PACKAGE}", "permission = generic", f"schema = {POLICY_PACKAGE}",
        "lfn2pfn_algorithm_default = wms2", "support = wms2 developers", "support_rucio = https://rucio.cern.ch", "",
        # core/trace.py needs these at import although nothing connects (cms-formats.md §4.3 pitfalls 2-3)
        "[trace]", f"tracedir = {home / 'trace'}", "brokers = 127.0.0.1", "port = 61013",
        "topic = /topic/rucio.tracer", "username = unused", "password = unused", "",
        "[monitor]", "enable_metrics = False", "",
    ]))
    client_cfg = etc / "client.cfg"
    client_cfg.write_text("\n".join([
        "[client]", f"rucio_host = http://127.0.0.1:{port}", f"auth_host = http://127.0.0.1:{port}",
        "auth_type = userpass", f"account = {SERVICE_ACCOUNT}",
        "request_retries = 2", "",  # tokens: the client's default per-account files (a 401 renews them)
    ]))
    return client_cfg


def _server_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["RUCIO_CONFIG"] = str(home / "etc" / "rucio.cfg")
    env["PYTHONPATH"] = str(FILES_DIR)
    env.pop("RUCIO_HOME", None)
    return env


def _bootstrap(home: Path, venv: Path) -> None:
    marker = home / ".bootstrapped"
    if marker.is_file():
        return
    proc = subprocess.run([str(venv / "bin" / "python"), str(FILES_DIR / "wms2_rucio_bootstrap.py")],
                          env=_server_env(home), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RucioDevError(f"Rucio database bootstrap failed in {home}: {proc.stderr.strip()[-2000:]}")
    marker.touch()


# -- process ---------------------------------------------------------------------------------
def _free_port(preferred: int | None) -> int:
    if preferred:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds (TIME_WAIT is fine)
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])



def read_state(home: Path) -> ServerState | None:
    path = home / STATE_FILE
    if not path.is_file():
        return None
    try:
        return ServerState(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise RucioDevError(f"{path}: unreadable state file ({exc}); remove it") from exc


def _wait_ready(url: str, pid: int, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not process_alive(pid):
            raise RucioDevError(f"gunicorn exited during start-up; see {log}:\n{log_tail(log)}")
        try:
            if httpx.get(f"{url}/ping", timeout=2.0).status_code == httpx.codes.OK:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RucioDevError(f"Rucio server at {url} not ready after {READY_TIMEOUT_S:.0f} s; see {log}:\n{log_tail(log)}")



def _spawn(home: Path, venv: Path, port: int) -> int:
    log = home / "logs" / "gunicorn.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(venv / "bin" / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", str(GUNICORN_WORKERS),
             "--threads", str(GUNICORN_THREADS), "--timeout", str(GUNICORN_TIMEOUT_S),
             "--pid", str(home / "gunicorn.pid"), WSGI_APP],
            cwd=str(home), env=_server_env(home), stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    return proc.pid


def start(home: Path, rses: tuple[tuple[str, str], ...] = DEFAULT_RSES) -> ServerState:
    """Start the server for ``home`` (refused when it already runs); returns its recorded state."""
    home = home.expanduser().absolute()
    home.mkdir(parents=True, exist_ok=True)
    old = read_state(home)
    if old is not None and process_alive(old.pid):
        raise RucioDevError(f"a Rucio server already runs for {home} (pid {old.pid}, {old.url}); "
                            f"`wms2 dev rucio stop --home {home}` first")
    venv = ensure_venv()
    root_password = old.root_password if old else secrets.token_urlsafe(16)
    password = old.password if old else secrets.token_urlsafe(16)
    port = _free_port(old.port if old else None)
    client_cfg = _write_configs(home, venv, root_password, port)
    _bootstrap(home, venv)
    pid = _spawn(home, venv, port)
    url = f"http://127.0.0.1:{port}"
    state = ServerState(url=url, account=SERVICE_ACCOUNT, password=password, auth_type="userpass", scope=SCOPE,
                        pid=pid, port=port, home=str(home), version=RUCIO_VERSION, client_config=str(client_cfg),
                        rses=dict(rses), root_password=root_password)
    (home / STATE_FILE).write_text(json.dumps(asdict(state), indent=1))
    try:
        _wait_ready(url, pid, home / "logs" / "gunicorn.log")
        from wms2.devservices.rucio_setup import provision

        provision(state, home / "storage")
    except Exception:
        stop_process_group(pid, STOP_TIMEOUT_S)
        raise
    return state


def stop(home: Path) -> bool:
    """Stop the server of ``home``; False when none was running.  The database and state stay."""
    home = home.expanduser().absolute()
    state = read_state(home)
    if state is None or not process_alive(state.pid):
        return False
    stop_process_group(state.pid, STOP_TIMEOUT_S)
    return True


def status(home: Path) -> dict[str, Any]:
    home = home.expanduser().absolute()
    state = read_state(home)
    if state is None:
        return {"running": False, "home": str(home)}
    running = process_alive(state.pid)
    if running:
        try:
            running = httpx.get(f"{state.url}/ping", timeout=5.0).status_code == httpx.codes.OK
        except httpx.HTTPError:
            running = False
    return {"running": running, **state.public()}


def main(argv: list[str] | None = None) -> int:
    """``python -m wms2.devservices.rucio_dev start|stop|status HOME`` (for scripts without the CLI)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("start", "stop", "status"):
        print("usage: python -m wms2.devservices.rucio_dev start|stop|status HOME", file=sys.stderr)
        return 2
    home = Path(args[1])
    if args[0] == "start":
        print(json.dumps(start(home).public()))
    elif args[0] == "stop":
        print(json.dumps({"stopped": stop(home)}))
    else:
        print(json.dumps(status(home)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
