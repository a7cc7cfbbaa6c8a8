"""The Output Manager with DBS as its catalog writer: a round's files land in DBS as one closed block;
a DBS outage is an alert naming DBS, the call and the block, and nothing is marked done until DBS took it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from tests.dbs.conftest import Credentials, gateway_for
from tests.dbs.dbs_server import DbsTestServer
from tests.dbs.payloads import DATASET, fixed_meta
from tests.rucio.om_setup import expected_files, setup_round
from wms2.config import Settings
from wms2.core.output_manager import OUTPUT_ALERT, OutputManager
from wms2.db.base import Base
from wms2.db.session import Database
from wms2.db.tables import AlertRow, DagRow, ProcessingBlockRow, WorkflowRow
from wms2.domain.enums import BlockStatus
from wms2.services.dbs_validate import validate_bulkblock
from wms2.services.dbs_writer import DbsCatalogWriter
from wms2.services.outputs import LocalRuleService


def test_a_round_becomes_one_dbs_block_and_an_outage_is_retried(
        settings: Settings, tmp_path: Path, dbs_server: DbsTestServer, x509_pair: Credentials) -> None:
    db = Database(f"sqlite:///{tmp_path / 'om.db'}")
    Base.metadata.create_all(db.engine)
    gw = gateway_for(dbs_server, x509_pair, retries=0)
    om = OutputManager(settings, catalog=lambda s: DbsCatalogWriter(s, gw, fixed_meta), rules=LocalRuleService)
    wf_id, dag_id = setup_round(db, "dbs_om_test", DATASET)
    now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    dbs_server.state.fail_next = [(503, "text/plain", b"DBS is down")]
    with db.session() as s:
        report = om.collect(s, s.get(WorkflowRow, wf_id), s.get(DagRow, dag_id), now)
        block = s.scalars(select(ProcessingBlockRow)).one()
        assert len(report.work_units_registered) == 2 and report.blocks_closed == []
        assert block.status == BlockStatus.open and block.last_error is not None
        assert f"DBS insertBulkBlock block={block.catalog_block_name}: unavailable" in block.last_error
        alert = s.scalars(select(AlertRow).where(AlertRow.kind == OUTPUT_ALERT)).one()
        assert "DBS insertBulkBlock" in alert.reason
    assert dbs_server.state.blocks == {}
    later = now + timedelta(seconds=settings.output.retry_backoff_s[0] + 1)
    with db.session() as s:
        report = om.collect(s, s.get(WorkflowRow, wf_id), s.get(DagRow, dag_id), later)
        block = s.scalars(select(ProcessingBlockRow)).one()
        assert report.blocks_closed == [block.catalog_block_name] and block.status == BlockStatus.archived
    stored = dbs_server.state.blocks[str(block.catalog_block_name)]
    assert validate_bulkblock(stored) == []
    assert sorted(f["logical_file_name"] for f in stored["files"]) == sorted(expected_files(DATASET))
    db.dispose()
