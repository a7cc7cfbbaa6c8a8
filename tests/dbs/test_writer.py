"""The DBS writer: the REAL ``DbsApi.insertBulkBlock`` against the local server; exactly-once insertion."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.dbs.conftest import Credentials, gateway_for
from tests.dbs.dbs_server import DbsTestServer
from tests.dbs.payloads import BLOCK, DATASET, fixed_meta, output_files
from wms2.db.dbs_tables import DbsBufferFileRow, DbsStepRow
from wms2.db.session import Database
from wms2.services.dbs_gateway import DbsCallError, DbsGateway, DbsUnavailable
from wms2.services.dbs_validate import validate_bulkblock
from wms2.services.dbs_writer import DbsCatalogWriter
from wms2.services.outputs import RegistrationError


def _writer(session: Session, gateway: DbsGateway) -> DbsCatalogWriter:
    return DbsCatalogWriter(session, gateway, fixed_meta, clock=lambda: 1764748800.0)


def _buffer(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(DbsBufferFileRow)) or 0)


def test_a_block_is_inserted_once_closed_with_a_valid_payload(session: Session, gateway: DbsGateway,
                                                              dbs_server: DbsTestServer) -> None:
    w = _writer(session, gateway)
    w.open_block(DATASET, BLOCK)
    assert w.register_files(DATASET, BLOCK, output_files(2)) == 2
    assert w.register_files(DATASET, BLOCK, output_files(3)) == 1  # the repeat adds only the new file
    assert dbs_server.state.requests == []  # nothing reaches DBS before the block closes
    w.close_block(BLOCK)
    posts = dbs_server.state.calls("POST", "bulkblocks")
    assert len(posts) == 1
    assert validate_bulkblock(posts[0].body) == []
    assert posts[0].body["block"]["block_name"] == BLOCK and posts[0].body["block"]["file_count"] == 3
    assert [f["logical_file_name"] for f in posts[0].body["files"]] == sorted(f.lfn for f in output_files(3))
    assert _buffer(session) == 0
    session.commit()
    w2 = _writer(session, gateway)
    w2.close_block(BLOCK)  # recorded: no call at all
    assert len(dbs_server.state.requests) == 1
    with pytest.raises(RegistrationError, match="already inserted"):
        w2.register_files(DATASET, BLOCK, output_files(1, first=7))


def test_a_file_of_another_block_is_refused(session: Session, gateway: DbsGateway) -> None:
    w = _writer(session, gateway)
    w.register_files(DATASET, BLOCK, output_files(1))
    with pytest.raises(RegistrationError, match="already buffered for another block"):
        w.register_files(DATASET, DATASET + "#other-block", output_files(1))
    with pytest.raises(RegistrationError, match="does not belong"):
        w.open_block("/Other/Run3Summer24-WMS2Test-v1/AODSIM", BLOCK)


def test_an_existing_block_with_the_same_files_is_done(session: Session, gateway: DbsGateway,
                                                       dbs_server: DbsTestServer) -> None:
    w = _writer(session, gateway)
    w.register_files(DATASET, BLOCK, output_files(2))
    dbs_server.state.blocks[BLOCK] = w.payload(BLOCK)  # e.g. inserted before a crash, step not recorded
    w.close_block(BLOCK)
    assert len(dbs_server.state.calls("POST", "bulkblocks")) == 1  # answered 400, code 128
    assert session.scalar(select(DbsStepRow.result).where(DbsStepRow.kind == "bulkblock")) == "2"
    assert _buffer(session) == 0


def test_an_existing_block_with_other_files_is_an_error(session: Session, gateway: DbsGateway,
                                                        dbs_server: DbsTestServer) -> None:
    w = _writer(session, gateway)
    w.register_files(DATASET, BLOCK, output_files(2))
    theirs = w.payload(BLOCK)
    assert theirs is not None
    theirs["files"] = theirs["files"][:1]
    dbs_server.state.blocks[BLOCK] = theirs
    with pytest.raises(DbsCallError, match=r"DBS insertBulkBlock block=.*already exists in DBS with other files"):
        w.close_block(BLOCK)
    assert session.scalar(select(func.count()).select_from(DbsStepRow)) == 0
    assert _buffer(session) == 2  # nothing half-written: the buffer stays for the next attempt


def test_5xx_is_retried_with_backoff_then_succeeds(session: Session, dbs_server: DbsTestServer,
                                                   x509_pair: Credentials) -> None:
    waits: list[float] = []
    gw = gateway_for(dbs_server, x509_pair, retries=2)
    gw._sleep = waits.append
    gw.config = type(gw.config)(**{**gw.config.__dict__, "retry_backoff_s": 0.5})
    w = _writer(session, gw)
    w.register_files(DATASET, BLOCK, output_files(2))
    dbs_server.state.fail_next = [(502, "text/html", b"<html>Bad Gateway</html>"),
                                  (503, "text/plain", b"Service Unavailable")]
    w.close_block(BLOCK)
    assert len(dbs_server.state.calls("POST", "bulkblocks")) == 3 and BLOCK in dbs_server.state.blocks
    assert waits == [0.5, 1.0]


def test_dbs_down_leaves_nothing_marked(session: Session, dbs_server: DbsTestServer,
                                        x509_pair: Credentials) -> None:
    w = _writer(session, gateway_for(dbs_server, x509_pair, retries=1))
    w.register_files(DATASET, BLOCK, output_files(2))
    dbs_server.state.fail_next = [(500, "text/plain", b"boom")] * 2
    with pytest.raises(DbsUnavailable, match=rf"DBS insertBulkBlock block={BLOCK}: unavailable .* HTTP 500"):
        w.close_block(BLOCK)
    assert session.scalar(select(func.count()).select_from(DbsStepRow)) == 0 and _buffer(session) == 2
    w.close_block(BLOCK)  # DBS is back: the next cycle inserts it
    assert BLOCK in dbs_server.state.blocks


def test_an_invalid_payload_never_leaves_wms2(session: Session, gateway: DbsGateway,
                                              dbs_server: DbsTestServer) -> None:
    w = _writer(session, gateway)
    w.register_files(DATASET, BLOCK, output_files(2, site="local"))
    with pytest.raises(DbsCallError, match=r"not sent, the payload breaks DBS's rules: .*origin_site_name"):
        w.close_block(BLOCK)
    assert dbs_server.state.requests == []


def test_invalidation(session: Session, gateway: DbsGateway, dbs_server: DbsTestServer) -> None:
    w = _writer(session, gateway)
    w.register_files(DATASET, BLOCK, output_files(3))
    w.close_block(BLOCK)
    assert w.invalidate_block(BLOCK) == 3
    assert sorted(dbs_server.state.invalidated) == sorted(f.lfn for f in output_files(3))
    assert all(r.params["is_file_valid"] == "0" for r in dbs_server.state.calls("PUT", "files"))
    assert w.invalidate_block(BLOCK) == 3  # recorded: no second call
    assert len(dbs_server.state.calls("PUT", "files")) == 3  # one LFN per call
    other = DATASET + "#1d2e3f40-aaaa-4bbb-8ccc-0123456789ab"
    w.register_files(DATASET, other, output_files(2, first=5))
    assert w.invalidate_block(other) == 2  # never inserted: only the buffer goes
    w.close_block(other)
    assert other not in dbs_server.state.blocks and len(dbs_server.state.calls("PUT", "files")) == 3


def test_per_lumi_counts_survive_the_buffer(session: Session, gateway: DbsGateway, dbs_server: DbsTestServer) -> None:
    files = [replace(f, lumi_events={1: {f.lumis[1][0]: f.events - 1, f.lumis[1][1]: 1}}) for f in output_files(2)]
    w = _writer(session, gateway)
    w.register_files(DATASET, BLOCK, files)
    session.commit()
    _writer(session, gateway).close_block(BLOCK)
    sent = dbs_server.state.blocks[BLOCK]
    assert validate_bulkblock(sent) == []
    assert [ls["event_count"] for ls in sent["files"][0]["file_lumi_list"]] == [files[0].events - 1, 1]


def test_the_cycle_on_sqlite_and_postgresql(db: Database, gateway: DbsGateway, dbs_server: DbsTestServer) -> None:
    with db.session() as s:
        assert _writer(s, gateway).register_files(DATASET, BLOCK, output_files(3)) == 3
    with db.session() as s:
        assert _writer(s, gateway).register_files(DATASET, BLOCK, output_files(3)) == 0
        _writer(s, gateway).close_block(BLOCK)
    with db.session() as s:
        _writer(s, gateway).close_block(BLOCK)
        assert _buffer(s) == 0 and s.scalar(select(DbsStepRow.result)) == "3"
    assert len(dbs_server.state.calls("POST", "bulkblocks")) == 1
