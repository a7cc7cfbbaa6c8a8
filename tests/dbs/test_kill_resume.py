"""SIGKILL after DBS accepted the block and before WMS2 recorded it: the restart inserts nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.dbs.conftest import Credentials
from tests.dbs.dbs_server import DbsTestServer
from tests.dbs.payloads import BLOCK, fixed_meta, output_files
from wms2.db.dbs_tables import DbsBufferFileRow, DbsStepRow
from wms2.services.dbs_gateway import DbsGateway
from wms2.services.dbs_writer import DbsCatalogWriter
from wms2.services.rucio_steps import FAULT_ENV

REPO = Path(__file__).resolve().parents[2]
CHILD_TIMEOUT_S = 120  # imports only; a few seconds on an idle machine


@pytest.mark.slow  # a child interpreter (~2 s of imports idle, more on the loaded machine)
def test_killed_between_insert_and_record_resumes_without_a_second_block(
        session: Session, tmp_path: Path, dbs_server: DbsTestServer, x509_pair: Credentials,
        gateway: DbsGateway) -> None:
    db_url = str(session.get_bind().url)
    env = {**os.environ, FAULT_ENV: "bulkblock", "PYTHONPATH": str(REPO)}
    child = subprocess.run([sys.executable, "-m", "tests.dbs.kill_child", db_url, dbs_server.reader_url,
                            str(x509_pair.cert), str(x509_pair.key), str(x509_pair.ca_dir)],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert list(dbs_server.state.blocks) == [BLOCK]  # DBS has it ...
    assert session.scalar(select(func.count()).select_from(DbsStepRow)) == 0  # ... WMS2 did not record it
    assert session.scalar(select(func.count()).select_from(DbsBufferFileRow)) == 3

    writer = DbsCatalogWriter(session, gateway, fixed_meta)  # the restarted WMS2's next cycle
    writer.close_block(BLOCK)
    session.commit()
    assert len(dbs_server.state.calls("POST", "bulkblocks")) == 2  # the repeat was answered "already exists"
    assert list(dbs_server.state.blocks) == [BLOCK]
    assert [f["logical_file_name"] for f in dbs_server.state.blocks[BLOCK]["files"]] == \
        sorted(f.lfn for f in output_files(3))
    assert session.scalar(select(DbsStepRow.result).where(DbsStepRow.kind == "bulkblock")) == "3"
    assert session.scalar(select(func.count()).select_from(DbsBufferFileRow)) == 0
