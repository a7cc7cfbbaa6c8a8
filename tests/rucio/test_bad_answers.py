"""Bad answers give a clear error naming the service, the call and the DID; nothing is marked done.

Unknown DID and permission denied come from the real server; a malformed answer from a tiny HTTP
server of the test that answers every call with broken JSON (a fake under tests/, never in src/)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.rucio.conftest import cms_settings, gateway_for, unique_dataset
from tests.rucio.om_setup import setup_round
from wms2.core.output_manager import OUTPUT_ALERT
from wms2.core.wiring import build_output_manager
from wms2.db.rucio_tables import RucioStepRow
from wms2.db.session import Database
from wms2.db.tables import AlertRow, DagRow, ProcessingBlockRow, WorkflowRow
from wms2.devservices import rucio_dev
from wms2.services.outputs import OutputFile
from wms2.services.rucio_gateway import RucioCallError, RucioGateway
from wms2.services.rucio_outputs import RucioCatalogWriter, RucioRuleService


def _no_steps(db: Database) -> bool:
    with db.session() as s:
        return s.scalar(select(RucioStepRow.key)) is None


def test_unknown_did(gateway: RucioGateway, sqlite_db: Database) -> None:
    block = f"{unique_dataset()}#0000cccc-1111-2222-3333-444455556666"
    with sqlite_db.session() as s, pytest.raises(RucioCallError) as err:
        RucioCatalogWriter(s, gateway).close_block(block)
    text = str(err.value)
    assert text.startswith("Rucio get_did cms:" + block) and "DataIdentifierNotFound" in text
    assert _no_steps(sqlite_db)
    with sqlite_db.session() as s, pytest.raises(RucioCallError) as err:
        RucioRuleService(s, gateway).add_rule(block, "T1_XX_SiteB_Tape", "archival")
    assert block in str(err.value) and "DataIdentifierNotFound" in str(err.value)
    assert _no_steps(sqlite_db)


@pytest.fixture
def unprivileged(rucio_server: rucio_dev.ServerState) -> RucioGateway:
    """An ordinary user account (no admin attribute, no rights on the cms scope)."""
    from rucio.client import Client

    root_password = rucio_dev.read_state(Path(rucio_server.home)).root_password  # type: ignore[union-attr]
    root = Client(rucio_host=rucio_server.url, auth_host=rucio_server.url, account="root", auth_type="userpass",
                  creds={"username": rucio_dev.ROOT_IDENTITY, "password": root_password})
    try:
        root.add_account("nobody", "USER", "nobody@localhost")
        root.add_identity("nobody", "nobody", "USERPASS", "nobody@localhost", default=True, password="nobody-pw")
    except Exception as exc:  # a second test in the session finds the account
        assert "Duplicate" in type(exc).__name__, exc
    return gateway_for(rucio_server, account="nobody", username="nobody", password="nobody-pw")


def test_permission_denied(unprivileged: RucioGateway, sqlite_db: Database) -> None:
    dataset = unique_dataset()
    with sqlite_db.session() as s, pytest.raises(RucioCallError) as err:
        RucioCatalogWriter(s, unprivileged).open_block(dataset, f"{dataset}#0000dddd-1111-2222-3333-444455556666")
    text = str(err.value)
    assert text.startswith(f"Rucio add_container cms:{dataset}") and "AccessDenied" in text
    assert _no_steps(sqlite_db)


class _Garbage(BaseHTTPRequestHandler):
    """Authenticates, accepts every write (201), and answers every read with broken JSON."""

    def _answer(self) -> None:
        if self.path.startswith("/auth/"):
            self.send_response(200)
            self.send_header("X-Rucio-Auth-Token", "nobody-token")
            self.send_header("X-Rucio-Auth-Token-Expires", "Fri, 01 Jan 2100 00:00:00 UTC")
            self.end_headers()
            return
        if self.command in ("POST", "PUT"):
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"name": "/Prim/Era-Proc-v1/AODSIM", "open": tr'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def garbage_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_malformed_answer_is_an_alert(garbage_url: str, rucio_server: rucio_dev.ServerState, sqlite_db: Database,
                                      tmp_path: Path) -> None:
    dataset = unique_dataset()
    state = rucio_dev.ServerState(**{**rucio_server.__dict__, "url": garbage_url, "client_config": ""})
    settings = cms_settings(state, tmp_path)
    wf_id, dag_id = setup_round(sqlite_db, "req-garbage", dataset)
    om = build_output_manager(settings)
    with sqlite_db.session() as s:
        report = om.collect(s, s.get(WorkflowRow, wf_id), s.get(DagRow, dag_id), datetime.now(UTC))
    assert len(report.failures) == 1
    with sqlite_db.session() as s:
        block = s.scalar(select(ProcessingBlockRow))
        alert = s.scalar(select(AlertRow).where(AlertRow.kind == OUTPUT_ALERT))
        assert alert is not None and alert.request_name == "req-garbage"
        assert "Rucio" in alert.reason and "malformed answer" in alert.reason and dataset in alert.reason
        assert block.last_error and "malformed answer" in block.last_error
        assert block.completed_work_units == [] and block.status.value == "open"
        # the two writes the server accepted (201) are done; the read that failed and all after it are not
        assert sorted(s.scalars(select(RucioStepRow.kind))) == ["block", "container"]


def test_file_without_site_is_refused(gateway: RucioGateway, sqlite_db: Database) -> None:
    dataset = unique_dataset()
    block = f"{dataset}#0000eeee-1111-2222-3333-444455556666"
    with sqlite_db.session() as s:
        writer = RucioCatalogWriter(s, gateway)
        writer.open_block(dataset, block)
        with pytest.raises(Exception, match="no site recorded"):
            writer.register_files(dataset, block, [OutputFile("/store/mc/x/y.root", 1, "00000001", 1)])
