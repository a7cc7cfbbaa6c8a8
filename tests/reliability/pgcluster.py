"""A private PostgreSQL cluster for the fault harness: ``initdb`` + ``pg_ctl`` in a temporary directory on a
free port, so the harness can crash and restart *its* server without touching the shared one on
127.0.0.1:5432 that other tests use.

``initdb`` refuses to run as root; when the harness runs as root the cluster's commands run as the
``postgres`` system user (``runuser -u postgres``), which owns the data directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, text

from wms2.db.session import make_engine

SERVER_USER = "postgres"  # the system account the Debian packages create; initdb's own superuser too
APP_ROLE = "wms2"  # the non-superuser role WMS2 connects as (the catalog refusal revokes its rights)
APP_DB = "wms2"
START_TIMEOUT_S = 120  # pg_ctl -t: start-up on a loaded 2-core machine (crash recovery included)
# fsync off: the cluster is thrown away; an immediate stop is a crash *of the server*, not of the disk
# (the kernel keeps what was written).  synchronous_commit stays on, PostgreSQL's default and production's:
# with it off, a crash loses transactions already reported committed, which no production server does
# (chaos run 15 of 20, 2026-12-03: a round submitted, then its committed DAG row lost; see design.md 16).
SERVER_OPTIONS = "-c fsync=off -c full_page_writes=off -c max_connections=60"


def pg_bin() -> Path:
    """The newest ``/usr/lib/postgresql/<major>/bin`` with ``initdb`` (the Debian layout)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install "
                           "postgresql): the fault harness needs its own cluster")
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """One throw-away cluster: ``start()``, ``crash_restart()``, ``stop()``, ``admin()`` (superuser)."""

    def __init__(self) -> None:
        # its own directory directly under the temporary root: the server user must reach it, and the
        # harness's own (root, 0700) directory is not reachable for it
        self.base = Path(tempfile.mkdtemp(prefix="wms2-chaos-pg-"))
        self.data = self.base / "data"
        self.sockets = self.base / "sockets"
        self.log = self.base / "server.log"
        self.port = free_port()
        self.bin = pg_bin()
        self._as_root = os.geteuid() == 0
        self._admin: Engine | None = None

    # -- commands ------------------------------------------------------------------------------
    def _run(self, *args: str, timeout: float = START_TIMEOUT_S + 30) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self._as_root:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/")
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()[-800:]}"
                               f"\n{self._log_tail()}")
        return done

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "server log: " + self.log.read_text(errors="replace")[-800:]
        return ""

    def initdb(self) -> None:
        self.sockets.mkdir(exist_ok=True)
        if self._as_root:
            user = pwd.getpwnam(SERVER_USER)
            for path in (self.base, self.sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", SERVER_USER, "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 {SERVER_OPTIONS}"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w",
                  "-t", str(START_TIMEOUT_S), "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(START_TIMEOUT_S), "stop")

    def crash_restart(self, down_seconds: float) -> None:
        """``immediate`` stop (every backend killed, crash recovery at the next start), then start."""
        self.dispose_admin()
        self.stop("immediate")
        time.sleep(down_seconds)
        self.start()

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def running(self) -> bool:
        return (self.data / "postmaster.pid").is_file()

    # -- set-up --------------------------------------------------------------------------------
    def url(self, role: str = APP_ROLE, database: str = APP_DB) -> str:
        return f"postgresql://{role}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> Engine:
        """A superuser engine on the application database (autocommit)."""
        if self._admin is None:
            self._admin = make_engine(self.url(SERVER_USER), isolation_level="AUTOCOMMIT", pool_pre_ping=True)
        return self._admin

    def dispose_admin(self) -> None:
        if self._admin is not None:
            self._admin.dispose()
            self._admin = None

    def create_app_database(self) -> None:
        """The role WMS2 connects as (no superuser: privileges apply to it) and its database."""
        boot = make_engine(self.url(SERVER_USER, "postgres"), isolation_level="AUTOCOMMIT")
        try:
            with boot.connect() as conn:
                conn.execute(text(f'CREATE ROLE "{APP_ROLE}" LOGIN NOSUPERUSER'))
                conn.execute(text(f'CREATE DATABASE "{APP_DB}" OWNER "{APP_ROLE}"'))
        finally:
            boot.dispose()

    def execute(self, sql: str) -> None:
        with self.admin().connect() as conn:
            conn.execute(text(sql))

    def destroy(self) -> None:
        self.dispose_admin()
        if self.running():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)
