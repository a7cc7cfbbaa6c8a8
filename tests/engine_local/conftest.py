"""A local pool daemon for the engine tests (one per session) and helpers to write small DAGs."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from wms2.config import Settings
from wms2.engines.base import DagExitInfo, SubmitOptions
from wms2.engines.local.client import LocalEngine, ensure_pool_running, process_alive, stop_pool

WAIT_S = 60.0

JOB_SH = """#!/bin/sh
# usage: job.sh NAME SLEEP EXIT LOGFILE
echo "start $1 $(date +%s.%N)" >> "$4"
sleep "$2"
echo "end $1 $(date +%s.%N)" >> "$4"
exit "$3"
"""

JOB_SUB = """executable = job.sh
arguments = "$(JOB) $(sleep:0) $(code:0) $(logfile)"
output = $(JOB).out
error = $(JOB).err
request_cpus = $(cpus:1)
request_memory = $(memory:100)
queue
"""

SCRIPT_SH = """#!/bin/sh
# usage: script.sh LOGFILE EXIT ARGS... : logs its arguments, exits with EXIT
log="$1"; code="$2"; shift 2
echo "$*" >> "$log"
exit "$code"
"""


def make_settings(home: Path) -> Settings:
    return Settings(home=home)


@pytest.fixture(scope="session")
def pool_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = make_settings(tmp_path_factory.mktemp("pool_home"))
    ensure_pool_running(settings)
    yield settings
    stop_pool(settings)


@pytest.fixture
def engine(pool_settings: Settings) -> LocalEngine:
    return LocalEngine(pool_settings)


def write_exec(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class DagDir:
    """A directory with job.sh/job.sub/script.sh and a DAG whose jobs log to ``events.log``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        write_exec(root / "job.sh", JOB_SH)
        write_exec(root / "script.sh", SCRIPT_SH)
        (root / "job.sub").write_text(JOB_SUB)
        self.logfile = root / "events.log"

    def dag(self, text: str, name: str = "test.dag") -> Path:
        path = self.root / name
        path.write_text(f'VARS ALL_NODES logfile="{self.logfile}"\n' + text)
        return path

    def events(self) -> list[tuple[str, str, float]]:
        if not self.logfile.exists():
            return []
        out = []
        for line in self.logfile.read_text().splitlines():
            kind, name, ts = line.split()
            out.append((kind, name, float(ts)))
        return out

    def starts(self) -> list[str]:
        return [name for kind, name, _ in self.events() if kind == "start"]


@pytest.fixture
def dagdir(tmp_path: Path) -> DagDir:
    return DagDir(tmp_path / "dag")


def run_dag(engine: LocalEngine, dag: Path, options: SubmitOptions | None = None) -> tuple[int, DagExitInfo]:
    result = engine.submit_dag(dag, options or SubmitOptions())
    return result.cluster_id, engine.wait(result.cluster_id, timeout=WAIT_S, poll=0.05)


def pid_alive(pid: int) -> bool:
    return process_alive(pid)
