"""The local DAGMan on a full disk (found by the fault harness: a merge group's rescue DAG could not be
written, the exception escaped the pool's loop and the DAG never ended — its request stayed active for
ever).  Now, as DAGMan does, the bookkeeping writes that fail are logged and the DAG still ends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.faults import mount_tmpfs, unmount
from wms2.config import Settings
from wms2.engines.base import SubmitOptions
from wms2.engines.local.client import LocalEngine, ensure_pool_running, stop_pool

pytestmark = pytest.mark.slow
TMPFS_MB = 1
WAIT_S = 120.0  # a loaded 2-core machine; the DAG itself takes a second
FILL_AND_FAIL = "executable = /bin/sh\narguments = \"-c 'cat /dev/zero > fill; exit 1'\"\nqueue\n"


@pytest.fixture
def full_dag_dir(tmp_path: Path) -> Iterator[Path]:
    assert os.geteuid() == 0, "this test mounts a tmpfs: run as root"
    directory = tmp_path / "dag"
    assert mount_tmpfs(directory, TMPFS_MB), f"mount -t tmpfs refused at {directory}"
    try:
        yield directory
    finally:
        unmount(directory)


def test_a_dag_whose_disk_fills_still_ends(tmp_path: Path, full_dag_dir: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    ensure_pool_running(settings)
    try:
        (full_dag_dir / "fill.sub").write_text(FILL_AND_FAIL)
        dag = full_dag_dir / "fill.dag"
        dag.write_text("JOB A fill.sub\nJOB B fill.sub\nPARENT A CHILD B\n")
        engine = LocalEngine(settings)
        cluster = engine.submit_dag(dag, SubmitOptions()).cluster_id
        info = engine.wait(cluster, timeout=WAIT_S)  # before: TimeoutError, the DAG never left the queue
        assert info.exit_code == 1, info
        assert not list(full_dag_dir.glob("*.rescue*"))  # no (half-written) rescue left behind
    finally:
        stop_pool(settings)
