"""ReqMgr2Client against a real HTTP server on loopback serving the fixture request documents."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services.reqmgr_server import FakeReqMgr2, Reply, dead_url, load_dumps, running_reqmgr2
from wms2.config import ReqMgr2Settings
from wms2.services.reqmgr import (
    ReqMgr2Client,
    RequestNameInvalid,
    RequestNotFound,
    RequestSourceBadAnswer,
    RequestSourceError,
    RequestSourceMisconfigured,
    RequestSourceRefused,
    RequestSourceUnavailable,
)

RERECO = "pdmvserv_Run2017F-v1_SingleElectron_09Aug2019_UL2017_EcalRecovery_200506_120455_3146"
STEPCHAIN = "StepChain_Tasks_HG2011_Val_201029_112731_6371"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"
FAST_RETRY_S = 0.01


@pytest.fixture
def fake(fixtures_dir: Path) -> Iterator[FakeReqMgr2]:
    with running_reqmgr2(fixtures_dir) as server:
        yield server


def settings(url: str, **kw: object) -> ReqMgr2Settings:
    return ReqMgr2Settings(url=url, retry_backoff_s=FAST_RETRY_S, timeout_s=5.0, **kw)  # type: ignore[arg-type]


def fetch(url: str, name: str, **kw: object) -> dict:
    with ReqMgr2Client(settings(url, **kw)) as client:
        return client.fetch(name)


@pytest.mark.parametrize("name", [RERECO, STEPCHAIN, "TaskChain_LumiMask_multiRun_HG2011_Val_201029_112735_5891"])
def test_fetch_returns_the_document_unchanged(fake: FakeReqMgr2, fixtures_dir: Path, name: str) -> None:
    doc = fetch(fake.url, name)
    assert doc == load_dumps(fixtures_dir)[name]
    (seen,) = fake.requests
    assert seen.path == "/reqmgr2/data/request" and seen.query == {"name": [name]}
    assert seen.headers["accept"] == "application/json" and "authorization" not in seen.headers


def test_common_dict_layout_is_accepted(fake: FakeReqMgr2) -> None:
    doc = fake.documents[RERECO]
    fake.script.append(Reply(body=json.dumps({"result": [doc]}).encode()))
    assert fetch(fake.url, RERECO) == doc


@pytest.mark.parametrize("reply", [None, Reply(body=b'{"result": [{}]}'), Reply(404, b"no such request")])
def test_unknown_name_is_not_found(fake: FakeReqMgr2, reply: Reply | None) -> None:
    if reply is not None:
        fake.script.append(reply)
    with pytest.raises(RequestNotFound, match="has no request named nobody_Nothing_200101_000000_1") as info:
        fetch(fake.url, "nobody_Nothing_200101_000000_1")
    assert info.value.caller_fault and info.value.name == "nobody_Nothing_200101_000000_1"
    assert len(fake.requests) == 1  # not retried


@pytest.mark.parametrize("name, why", [
    ("../etc/passwd", "must not start with a dot"), ("a/../b", "may only contain"), ("evil\nname", "may only contain"),
    ('quote"d', "may only contain"), ("it's", "may only contain"), ("", "must not be empty"),
    (".hidden", "must not start with a dot"), ("x" * 181, "the limit is 180"), ("name?x=1&y", "may only contain"),
])
def test_bad_name_is_rejected_before_any_http(fake: FakeReqMgr2, name: str, why: str) -> None:
    with pytest.raises(RequestNameInvalid, match=why) as info:
        fetch(fake.url, name)
    assert info.value.caller_fault
    assert fake.requests == []


def test_5xx_is_retried_then_succeeds(fake: FakeReqMgr2) -> None:
    fake.script.extend([Reply(500, b"oops", "text/plain"), Reply(503, b"busy", "text/plain")])
    assert fetch(fake.url, RERECO, retries=2)["RequestName"] == RERECO
    assert len(fake.requests) == 3


def test_5xx_every_time_is_unavailable_after_the_retries(fake: FakeReqMgr2) -> None:
    fake.script.extend([Reply(502, b"")] * 3)
    with pytest.raises(RequestSourceUnavailable, match=r"unavailable after 3 attempt\(s\): HTTP 502") as info:
        fetch(fake.url, RERECO, retries=2)
    assert not info.value.caller_fault and fake.url in info.value.message
    assert len(fake.requests) == 3


def test_4xx_other_than_404_is_not_retried(fake: FakeReqMgr2) -> None:
    fake.script.append(Reply(400, b"bad"))
    with pytest.raises(RequestSourceBadAnswer, match="unexpected HTTP 400"):
        fetch(fake.url, RERECO, retries=3)
    assert len(fake.requests) == 1


def test_read_timeout_is_not_retried(fake: FakeReqMgr2) -> None:
    fake.script.append(Reply(delay_s=1.0, body=b"{}"))
    cfg = ReqMgr2Settings(url=fake.url, timeout_s=0.2, retries=2, retry_backoff_s=0)
    with pytest.raises(RequestSourceUnavailable, match="ReadTimeout"), ReqMgr2Client(cfg) as client:
        client.fetch(RERECO)
    assert len(fake.requests) == 1


def test_non_json_answer(fake: FakeReqMgr2) -> None:
    fake.script.append(Reply(body=b"<html><body>Please log in</body></html>", content_type="text/html"))
    with pytest.raises(RequestSourceBadAnswer, match=r"not JSON .*content-type text/html; starts '<html><body>Ple"):
        fetch(fake.url, RERECO)


@pytest.mark.parametrize("body, why", [
    (b'["not", "an", "envelope"]', r'expected a JSON object \{"result"'),
    (b'{"result": {"a": 1}}', r'expected a JSON object \{"result"'),
    (b'{"result": [42]}', r"result\[0\] is a int, not an object"),
    (b'{"result": [{"some_name": "text"}]}', r"result\[0\].some_name is a str, not a document"),
])
def test_wrong_shape(fake: FakeReqMgr2, body: bytes, why: str) -> None:
    fake.script.append(Reply(body=body))
    with pytest.raises(RequestSourceBadAnswer, match=why):
        fetch(fake.url, RERECO)


@pytest.mark.parametrize("declared", [True, False])
def test_oversized_answer(fake: FakeReqMgr2, declared: bool) -> None:
    body = json.dumps({"result": [{RERECO: fake.documents[RERECO]}]}).encode()
    assert len(body) > 2048
    fake.script.append(Reply(body=body, content_length=declared))
    how = "declares" if declared else "is longer"
    with pytest.raises(RequestSourceBadAnswer, match=rf"answer {how} .*max_response_bytes \(2048\)"):
        fetch(fake.url, RERECO, max_response_bytes=2048)


def test_document_with_another_name_is_refused(fake: FakeReqMgr2) -> None:
    fake.documents[RERECO] = fake.documents[STEPCHAIN]
    with pytest.raises(RequestSourceBadAnswer, match=f"asked for {RERECO} but result.0..{RERECO} has RequestName"
                                                     f" '{STEPCHAIN}'") as info:
        fetch(fake.url, RERECO)
    assert not info.value.caller_fault


def test_bearer_token_is_sent(fake: FakeReqMgr2, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    fake.token = TOKEN
    assert fetch(fake.url, RERECO, token_file=token_file)["RequestName"] == RERECO
    assert fake.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_401_names_the_credential_but_never_the_token(fake: FakeReqMgr2, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    fake.token = "another-token"
    fake.script.append(Reply(500))  # a retry, so the retry log line is checked too
    with caplog.at_level(logging.DEBUG), pytest.raises(RequestSourceRefused) as info:
        fetch(fake.url, RERECO, token_file=token_file)
    assert f"HTTP 401: ReqMgr2 refused bearer token from {token_file}" in info.value.message
    assert TOKEN not in str(info.value) and TOKEN not in caplog.text
    assert not info.value.caller_fault


def test_403_without_credentials_says_so(fake: FakeReqMgr2) -> None:
    fake.script.append(Reply(403, b"forbidden", "text/plain"))
    with pytest.raises(RequestSourceRefused, match="HTTP 403: ReqMgr2 refused no credential"):
        fetch(fake.url, RERECO)


def test_unreachable_port_names_the_url() -> None:
    url = dead_url()
    with pytest.raises(RequestSourceUnavailable, match=r"unavailable after 2 attempt\(s\): cannot connect") as info:
        fetch(url, RERECO, retries=1)
    assert f"{url}/request" in info.value.message


def test_configuration_errors_are_named(fake: FakeReqMgr2, tmp_path: Path) -> None:
    with pytest.raises(RequestSourceMisconfigured, match=r"reqmgr2\.cert_file: cannot load .*missing\.pem"):
        fetch("https://cmsweb.invalid/reqmgr2/data", RERECO, cert_file=tmp_path / "missing.pem")
    with pytest.raises(RequestSourceMisconfigured, match=r"reqmgr2\.ca_path: .* is neither a file nor a directory"):
        fetch("https://cmsweb.invalid/reqmgr2/data", RERECO, ca_path=tmp_path / "nope")
    with pytest.raises(RequestSourceMisconfigured, match="a bearer token is only sent over https"):
        fetch("http://cmsweb.invalid/reqmgr2/data", RERECO, token_file=tmp_path / "token")
    with pytest.raises(RequestSourceMisconfigured, match=r"reqmgr2\.token_file: cannot read"):
        fetch(fake.url, RERECO, token_file=tmp_path / "token")
    (tmp_path / "token").write_text("two\ntokens")
    with pytest.raises(RequestSourceMisconfigured, match="does not hold a single token"):
        fetch(fake.url, RERECO, token_file=tmp_path / "token")
    assert fake.requests == []


def test_every_error_is_a_request_source_error() -> None:
    for cls in (RequestNameInvalid, RequestNotFound, RequestSourceBadAnswer, RequestSourceMisconfigured,
                RequestSourceRefused, RequestSourceUnavailable):
        assert issubclass(cls, RequestSourceError)
    assert [c.caller_fault for c in (RequestNameInvalid, RequestNotFound)] == [True, True]
