"""Several schedds: local pools (real daemons, each with its own spool) and tiny shell-job DAGs.

The DAGs are one-node ``workflow.dag`` files whose job waits for a gate file, then writes the node's
``merge_output.json`` (the one file the lifecycle's DAG monitor needs from a work unit).  Waiting
happens on events: a DAG's end through the pool's ``/wait`` long poll, a killed daemon through a pidfd.
"""

from __future__ import annotations

import json
import os
import select
import signal
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wms2.config import EngineSettings, Settings
from wms2.engines.local.client import daemon_pid, ensure_pool_running, stop_pool
from wms2.engines.local.pools import pool_spool
from wms2.engines.local.records import RECORDS_DIR

POOLS = ["a", "b", "c"]
WAIT_S = 60.0  # a tiny DAG ends in well under a second; this only bounds a broken run

JOB_SH = """#!/bin/sh
# usage: job.sh NODE GATE LOG: logs the start, waits for the file GATE, writes NODE/merge_output.json
echo "start $1" >> "$3"
while [ ! -e "$2" ]; do sleep 0.1; done
mkdir -p "$1" && printf '{"work_unit": "%s"}\\n' "$1" > "$1/merge_output.json"
"""

JOB_SUB = """executable = job.sh
arguments = "$(JOB) $(gate) $(log)"
output = $(JOB).out
error = $(JOB).err
request_cpus = 1
request_memory = 10
queue
"""


@pytest.fixture
def db_url(home: Path) -> str:
    """SQLite only: the pools, not the database, are under test here (the lifecycle is the same on both)."""
    return f"sqlite:///{home / 'wms2.db'}"


def pool_settings(home: Path, pools: list[str] | None = None, **engine: Any) -> Settings:
    return Settings(home=home, engine=EngineSettings(local_pools=pools or POOLS, **engine))


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Three running pools shared by a module's tests (each test leaves them running and idle)."""
    settings = pool_settings(tmp_path_factory.mktemp("pools_home"))
    ensure_pool_running(settings)
    yield settings
    stop_pool(settings)


class Gate:
    """The file every tiny job waits for."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def open(self) -> None:
        self.path.touch()


def tiny_dag(root: Path, gate: Gate, log: Path) -> Path:
    """``root/workflow.dag``: one node ``wu0`` (a work unit for the lifecycle)."""
    root.mkdir(parents=True, exist_ok=True)
    job = root / "job.sh"
    job.write_text(JOB_SH)
    job.chmod(job.stat().st_mode | stat.S_IXUSR)
    (root / "job.sub").write_text(JOB_SUB)
    dag = root / "workflow.dag"
    dag.write_text(f'JOB wu0 job.sub\nVARS wu0 gate="{gate.path}" log="{log}"\n')
    return dag


def spool_dags(settings: Settings, pool: str) -> dict[str, dict[str, Any]]:
    """The pool's own records of its top-level DAG jobs, by DAG file (the newest record per file)."""
    records: dict[str, dict[str, Any]] = {}
    for path in sorted((pool_spool(settings, pool) / RECORDS_DIR).glob("*.json"),
                       key=lambda p: int(p.stem)):
        data = json.loads(path.read_text())
        if data.get("parent") is None:
            records[data["dag_file"]] = data
    return records


def kill_pool(settings: Settings, pool: str) -> int:
    """SIGKILL the pool's daemon (a crash: no clean-up) and return once it is dead."""
    pid = daemon_pid(settings, pool)
    assert pid is not None, f"pool {pool} is not running"
    fd = os.pidfd_open(pid)
    try:
        os.kill(pid, signal.SIGKILL)
        ready, _, _ = select.select([fd], [], [], WAIT_S)  # readable once the process has exited
        assert ready, f"pool {pool} (pid {pid}) did not die"
    finally:
        os.close(fd)
    return pid
