"""The DBS reader: the REAL ``DbsApi`` against the local server replaying dbs2go-shaped answers."""

from __future__ import annotations

import pytest

from tests.dbs.conftest import Credentials, gateway_for
from tests.dbs.dbs_server import DbsTestServer
from wms2.services.catalog import CatalogError, FileSelection, LumiSection
from wms2.services.dbs_gateway import DbsCallError, DbsConfig, DbsGateway, DbsUnavailable
from wms2.services.dbs_reader import DbsDataCatalog
from wms2.services.outputs import RegistrationError

DS = "/ZeroBias/Run2024C-PromptReco-v1/AOD"
B1 = DS + "#2f1c7a0e-5b3d-4e8a-9c1f-0a7b6d4e3c21"
B2 = DS + "#8d4e2b17-9a6c-4f03-b5e1-3c2d7f9a0b48"


def test_files_are_typed_valid_only_with_lumis_events_and_parents(gateway: DbsGateway,
                                                                  dbs_server: DbsTestServer) -> None:
    files = DbsDataCatalog(gateway).files(DS)
    assert [f.block for f in files] == [B1, B1, B2]
    assert [f.lfn for f in files] == sorted(f.lfn for f in files)
    f1, f2, f3 = files
    assert f3.parents == ("/store/data/Run2024C/ZeroBias/RAW/v1/000/379/418/00000/"
                          "0a1b2c3d-3333-4aaa-8bbb-000000000003.root",)
    assert (f1.size, f1.events, f1.checksum) == (2300000000, 300, "1a2b3c4d")
    assert f1.lumis == (LumiSection(379416, 1, 100), LumiSection(379416, 2, 120), LumiSection(379416, 3, 80))
    assert f2.lumis_by_run() == {379416: [4, 5], 379417: [1]}
    assert sum(ls.events or 0 for ls in f2.lumis) == f2.events == 180
    assert len(f2.parents) == 2 and all("/RAW/" in p for p in f2.parents)
    assert "9f4b3c6d" not in " ".join(f.lfn for f in files)  # the invalid file of block 2
    for call in ("files", "filelumis"):
        asked = dbs_server.state.calls("GET", call)
        assert asked and all(r.params.get("validFileOnly") == "1" for r in asked), call
    assert all(r.params.get("detail") == "True" for r in dbs_server.state.calls("GET", "files"))


def test_selection_filters_blocks_before_asking_and_lumis_after(gateway: DbsGateway,
                                                                dbs_server: DbsTestServer) -> None:
    catalog = DbsDataCatalog(gateway)
    only_b2 = catalog.files(DS, FileSelection(block_whitelist=frozenset({B2})))
    assert [f.block for f in only_b2] == [B2]
    assert {r.params["block_name"] for r in dbs_server.state.calls("GET", "files")} == {B2}
    masked = catalog.files(DS, FileSelection(lumi_mask={379416: [(2, 4)]}))
    assert [(f.events, [ls.lumi for ls in f.lumis]) for f in masked] == [(200, [2, 3]), (50, [4])]


def test_datasets_and_blocks(gateway: DbsGateway, dbs_server: DbsTestServer) -> None:
    catalog = DbsDataCatalog(gateway)
    assert catalog.dataset_exists(DS)
    assert not catalog.dataset_exists("/ZeroBias/Run2099A-Nothing-v1/AOD")
    assert dbs_server.state.calls("GET", "datasets")[0].params["dataset_access_type"] == "*"
    blocks = catalog.blocks(DS)
    assert [(b.name, b.is_open, b.file_count) for b in blocks] == [(B1, False, 2), (B2, False, 2)]
    assert blocks[0].origin_site == "T0_CH_CERN_Disk"
    assert catalog.files("/ZeroBias/Run2024C-Retired-v1/AOD") == []  # INVALID: every file counts invalid


def test_unknown_dataset_is_a_catalog_error_naming_dbs_and_the_dataset(gateway: DbsGateway) -> None:
    with pytest.raises(CatalogError) as info:
        DbsDataCatalog(gateway).files("/ZeroBias/Run2099A-Nothing-v1/AOD")
    assert "DBS listDatasets dataset=/ZeroBias/Run2099A-Nothing-v1/AOD" in str(info.value)
    assert isinstance(info.value, RegistrationError)  # the Output Manager's retry path too


@pytest.mark.parametrize(("answer", "expected"), [
    ({"raw": "[{\"logical_file_name\": \"/store/x.root\", "}, "malformed answer: the body is not valid JSON"),
    ({"body": [{"logical_file_name": "/store/x.root", "block_name": B1, "is_file_valid": 1, "event_count": 5,
                "adler32": "01"}]},
     "row 0 has no 'file_size'"),
    ({"body": {"files": []}}, "expected a JSON list of rows, got dict"),
    ({"body": [{"logical_file_name": "/store/x.root", "block_name": B1, "file_size": "12",
                "event_count": 1, "is_file_valid": 1, "adler32": "01"}]}, "file_size='12' is not int"),
])
def test_bad_answers_name_service_call_and_block(gateway: DbsGateway, dbs_server: DbsTestServer,
                                                 answer: dict[str, object], expected: str) -> None:
    dbs_server.state.answers.insert(0, {"api": "files", "params": {"block_name": B1}, **answer})
    with pytest.raises(DbsCallError) as info:
        DbsDataCatalog(gateway).block_files(B1)
    assert f"DBS listFiles block={B1}" in str(info.value) and expected in str(info.value)
    assert not info.value.transient


def test_a_row_the_client_cannot_aggregate_is_a_malformed_answer(gateway: DbsGateway,
                                                                 dbs_server: DbsTestServer) -> None:
    dbs_server.state.answers.insert(0, {"api": "filelumis", "params": {"block_name": B1},
                                        "body": [{"logical_file_name": "/store/x.root", "lumi_section_num": 1}]})
    with pytest.raises(DbsCallError, match=rf"DBS listFileLumis block={B1}: malformed answer: KeyError"):
        DbsDataCatalog(gateway).block_files(B1)


@pytest.mark.parametrize("fault", [
    (503, "text/plain", b"Service Unavailable"),  # the client turns a non-JSON error body into a JSON error
    (500, "text/html", b"<html><body>Internal Server Error</body></html>"),
    (502, "application/json", b'[{"exception": 502, "message": "bad gateway", "error": {"code": 101}}]'),
])
def test_5xx_is_retried_then_succeeds(gateway: DbsGateway, dbs_server: DbsTestServer,
                                      fault: tuple[int, str, bytes]) -> None:
    dbs_server.state.fail_next = [fault, fault]
    assert DbsDataCatalog(gateway).dataset_exists(DS)
    assert len(dbs_server.state.calls("GET", "datasets")) == 3


def test_5xx_past_the_retries_is_unavailable(dbs_server: DbsTestServer, x509_pair: Credentials) -> None:
    gw = gateway_for(dbs_server, x509_pair, retries=1)
    dbs_server.state.fail_next = [(503, "text/plain", b"down")] * 3
    with pytest.raises(DbsUnavailable, match=r"DBS listBlocks dataset=/ZeroBias.*after 2 attempt\(s\): HTTP 503"):
        DbsDataCatalog(gw).blocks(DS)
    assert len(dbs_server.state.calls("GET", "blocks")) == 2


def test_a_4xx_is_not_retried(gateway: DbsGateway, dbs_server: DbsTestServer) -> None:
    dbs_server.state.fail_next = [(400, "application/json",
                                   b'[{"exception": 400, "message": "bad param", "error": {"code": 113}}]')]
    with pytest.raises(DbsCallError, match=r"HTTP 400 \(DBS code 113\)"):
        DbsDataCatalog(gateway).blocks(DS)
    assert len(dbs_server.state.calls("GET", "blocks")) == 1


def test_server_down_is_unavailable(x509_pair: Credentials) -> None:
    server = DbsTestServer().start()
    url = server.reader_url
    server.stop()
    gw = DbsGateway(DbsConfig(url=url, cert=str(x509_pair.cert), key=str(x509_pair.key),
                              ca_dir=str(x509_pair.ca_dir), timeout_s=5, retries=1, retry_backoff_s=0.0),
                    sleep=lambda _s: None)
    with pytest.raises(DbsUnavailable, match="connection failed"):
        DbsDataCatalog(gw).dataset_exists(DS)


def test_missing_certificate_is_a_clear_permanent_error(dbs_server: DbsTestServer, x509_pair: Credentials,
                                                        tmp_path: object) -> None:
    gw = DbsGateway(DbsConfig(url=dbs_server.reader_url, cert="/nonexistent/cert.pem", key="/nonexistent/key.pem",
                              ca_dir=str(x509_pair.ca_dir)), sleep=lambda _s: None)
    with pytest.raises(DbsCallError, match=r"DBS listDatasets dataset=.*ClientAuthException.*does not exist"):
        DbsDataCatalog(gw).dataset_exists(DS)
    assert dbs_server.state.requests == []
