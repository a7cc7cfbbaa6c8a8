"""Ownership fixtures: short leases, and `wms2` subprocesses on one database (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wms2.config import OwnershipSettings

WMS2 = [sys.executable, "-m", "wms2.cli"]
POLL_S = 0.05  # how often tests look at a condition


def short_lease(lease_seconds: float = 0.6) -> OwnershipSettings:
    return OwnershipSettings(lease_seconds=lease_seconds, renew_seconds=lease_seconds / 4,
                             standby_poll_seconds=0.05, db_retry_base_s=0.05, db_retry_max_s=0.2)


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    """Poll ``condition`` every POLL_S until it is truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(POLL_S)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


class Procs:
    """`wms2` subprocesses of one test, each with its own log; all killed at the end."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env, self.procs = tmp, env, []  # type: ignore[var-annotated]

    def start(self, *args: str, name: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("wb")
        proc = subprocess.Popen([*WMS2, *args], stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                start_new_session=True)
        proc.log_path = self.tmp / f"{name}.log"  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def run(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*WMS2, *args], capture_output=True, text=True, env=self.env, timeout=timeout)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=30)


def log_of(proc: subprocess.Popen[bytes]) -> str:
    return proc.log_path.read_text(errors="replace")  # type: ignore[attr-defined]


@pytest.fixture
def procs_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WMS2_")}
    env.update({"WMS2_LIFECYCLE__CYCLE_SECONDS": "0.2", "WMS2_OWNERSHIP__LEASE_SECONDS": "3",
                "WMS2_OWNERSHIP__RENEW_SECONDS": "0.5", "WMS2_OWNERSHIP__STANDBY_POLL_SECONDS": "0.2",
                # no local pool daemon: these processes own an empty lifecycle
                "WMS2_ENGINE__KIND": "htcondor", "WMS2_ENGINE__SCHEDDS": '["none"]'})
    return env


@pytest.fixture
def procs(tmp_path: Path, procs_env: dict[str, str]) -> Iterator[Procs]:
    p = Procs(tmp_path, procs_env)
    try:
        yield p
    finally:
        p.close()
