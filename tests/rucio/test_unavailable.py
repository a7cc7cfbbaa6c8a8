"""Rucio stopped during registration: WMS2 keeps running, the request is not failed, and registration
resumes once the server is back (the Output Manager's backoff schedule)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.rucio.conftest import cms_settings, unique_dataset
from tests.rucio.om_setup import setup_round
from tests.rucio.test_registration import check_round_in_rucio
from wms2.core.wiring import build_output_manager
from wms2.db.rucio_tables import RucioStepRow
from wms2.db.session import Database
from wms2.db.tables import DagRow, ProcessingBlockRow, RequestRow, WorkflowRow, WorkUnitRecordRow
from wms2.devservices import rucio_dev
from wms2.domain.enums import BlockStatus, RequestStatus


@pytest.mark.slow
def test_server_down_then_back(rucio_server: rucio_dev.ServerState, sqlite_db: Database, tmp_path: Path,
                               rucio_client: Any) -> None:
    dataset = unique_dataset()
    settings = cms_settings(rucio_server, tmp_path)
    wf_id, dag_id = setup_round(sqlite_db, "req-down", dataset)
    om = build_output_manager(settings)
    now = datetime.now(UTC)
    home = Path(rucio_server.home)
    assert rucio_dev.stop(home)
    try:
        with sqlite_db.session() as s:
            report = om.collect(s, s.get(WorkflowRow, wf_id), s.get(DagRow, dag_id), now)
        assert len(report.failures) == 1 and "Rucio" in report.failures[0] and "unavailable" in report.failures[0]
        with sqlite_db.session() as s:
            block = s.scalar(select(ProcessingBlockRow))
            assert block.status == BlockStatus.open and block.attempt_count == 1
            assert "Rucio" in (block.last_error or "") and rucio_server.url in (block.last_error or "")
            assert not any(s.scalars(select(WorkUnitRecordRow.registered)))
            assert s.scalar(select(RucioStepRow.key)) is None  # nothing marked done
            assert s.scalar(select(RequestRow.status)) == RequestStatus.active
    finally:
        again = rucio_dev.start(home)
    assert again.url == rucio_server.url  # same port, same URL: WMS2's settings still hold
    # Not yet due (first backoff is 60 s): nothing is tried.
    with sqlite_db.session() as s:
        report = om.collect(s, s.get(WorkflowRow, wf_id), s.get(DagRow, dag_id), now + timedelta(seconds=1))
        assert report.work_units_registered == []
    later = now + timedelta(seconds=settings.output.retry_backoff_s[0] + 1)
    for _ in range(2):
        with sqlite_db.session() as s:
            report = om.collect(s, s.get(WorkflowRow, wf_id), s.get(DagRow, dag_id), later)
            assert report.failures == []
    check_round_in_rucio(rucio_client, rucio_server.scope, dataset)
    with sqlite_db.session() as s:
        assert s.scalar(select(ProcessingBlockRow.status)) == BlockStatus.archived
