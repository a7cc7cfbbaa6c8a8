"""``POST /api/v1/requests`` with ``{"RequestName": NAME}``: the server imports the request from ReqMgr2
(a real HTTP server on loopback serving the fixture documents), through the same path as a full document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Api
from tests.services.reqmgr_server import FakeReqMgr2, Reply, dead_url, running_reqmgr2
from wms2.config import Settings

RERECO = "pdmvserv_Run2017F-v1_SingleElectron_09Aug2019_UL2017_EcalRecovery_200506_120455_3146"
STEPCHAIN = "StepChain_Tasks_HG2011_Val_201029_112731_6371"


@pytest.fixture
def fake(fixtures_dir: Path) -> Iterator[FakeReqMgr2]:
    with running_reqmgr2(fixtures_dir) as server:
        yield server


@pytest.fixture
def api_settings(api_settings: Settings, fake: FakeReqMgr2) -> Settings:
    api_settings.reqmgr2.url = fake.url
    api_settings.reqmgr2.retry_backoff_s = 0.01
    return api_settings


def by_name(api: Api, name: object, who: str = "operator") -> object:
    return api.call("POST", "/requests", who, json={"RequestName": name})


def test_import_by_name_then_idempotent(api: Api, fake: FakeReqMgr2) -> None:
    r = by_name(api, RERECO)
    assert r.status_code == 201, r.text
    assert r.json() == {"name": RERECO, "created": True, "status": "submitted"}
    detail = api.get(f"/requests/{RERECO}").json()
    assert detail["requestor"] == "pdmvserv" and detail["request_type"] == "ReReco"
    assert detail["status_transitions"][0]["by"] == "operator"
    again = by_name(api, RERECO)
    assert again.status_code == 200 and again.json()["created"] is False
    # The same document posted in full is the same request (the stored document is what ReqMgr2 sent).
    full = api.call("POST", "/requests", "operator", json=fake.documents[RERECO])
    assert full.status_code == 200 and full.json()["created"] is False
    assert len(fake.requests) == 2


def test_ownership_rules_apply_to_the_fetched_document(api: Api, fake: FakeReqMgr2) -> None:
    r = by_name(api, RERECO, who="alice")  # the document's Requestor is pdmvserv
    assert r.status_code == 403 and "Requestor 'pdmvserv' is not you (alice)" in r.json()["detail"]
    mine = by_name(api, STEPCHAIN, who="alice")  # no Requestor in the document: the caller's
    assert mine.status_code == 201, mine.text
    assert api.get(f"/requests/{STEPCHAIN}").json()["requestor"] == "alice"


def test_unknown_name_is_422_on_request_name(api: Api, fake: FakeReqMgr2) -> None:
    r = by_name(api, "nobody_Nothing_200101_000000_1")
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert error["field"] == "RequestName" and "ReqMgr2 has no request named nobody_" in error["message"]


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b", "x\ny", 'q"uote', "x" * 200, 42, None])
def test_bad_name_is_422_without_asking_reqmgr2(api: Api, fake: FakeReqMgr2, name: object) -> None:
    r = by_name(api, name)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["RequestName"]
    assert fake.requests == []


def test_a_body_with_more_than_the_name_is_a_full_document(api: Api, fake: FakeReqMgr2) -> None:
    r = api.call("POST", "/requests", "operator", json={"RequestName": RERECO, "RequestType": "ReReco"})
    assert r.status_code == 422  # validated as a (bad) document, not fetched
    assert fake.requests == []


@pytest.mark.parametrize("reply, detail", [
    (Reply(401, b"no", "text/html"), "HTTP 401: ReqMgr2 refused no credential"),
    (Reply(200, b"<html>login</html>", "text/html"), "answer is not JSON"),
])
def test_reqmgr2_problems_are_502(api: Api, fake: FakeReqMgr2, reply: Reply, detail: str) -> None:
    fake.script.append(reply)
    r = by_name(api, RERECO)
    assert r.status_code == 502
    body = r.json()
    assert detail in body["detail"] and fake.url in body["detail"] and body["errors"] == []
    assert api.get(f"/requests/{RERECO}").status_code == 404


def test_unreachable_reqmgr2_is_502_naming_it(api: Api) -> None:
    api.settings.reqmgr2.url = dead_url()
    api.settings.reqmgr2.retries = 0
    r = by_name(api, RERECO)
    assert r.status_code == 502
    assert f"ReqMgr2 at {api.settings.reqmgr2.url}/request unavailable" in r.json()["detail"]


def test_openapi_documents_the_by_name_form(api: Api) -> None:
    op = api.client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/requests"]["post"]
    assert "502" in op["responses"]
    assert "RequestName" in op["requestBody"]["content"]["application/json"]["schema"]["description"]
