"""``wms2 submit --from-reqmgr NAME``: locally the CLI fetches from ReqMgr2 (a real HTTP server on loopback
serving the fixture documents) and submits; remotely it sends ``{"RequestName": NAME}`` and the server fetches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Server, State, wms2
from tests.services.reqmgr_server import FakeReqMgr2, dead_url, running_reqmgr2
from wms2.db.session import Database

RERECO = "pdmvserv_Run2017F-v1_SingleElectron_09Aug2019_UL2017_EcalRecovery_200506_120455_3146"
TASKCHAIN = "TaskChain_LumiMask_multiRun_HG2011_Val_201029_112735_5891"
STEPCHAIN = "StepChain_Tasks_HG2011_Val_201029_112731_6371"
UNKNOWN = "nobody_Nothing_200101_000000_1"


def flat(text: str) -> str:
    """Terminal output without the console's line wrapping."""
    return " ".join(text.split())


@pytest.fixture
def fake(fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeReqMgr2]:
    """The fake ReqMgr2, named by the environment the local CLI reads its settings from."""
    with running_reqmgr2(fixtures_dir) as server:
        monkeypatch.setenv("WMS2_REQMGR2__URL", server.url)
        monkeypatch.setenv("WMS2_REQMGR2__RETRY_BACKOFF_S", "0.01")
        yield server


def test_local_import_then_show(cli_db: Database, fake: FakeReqMgr2) -> None:
    assert wms2("submit", "--from-reqmgr", RERECO, "--json").json() == {
        "ok": True, "requests": [{"name": RERECO, "created": True}]}
    detail = wms2("show", RERECO, "--json").json()
    assert detail["status"] == "submitted" and detail["requestor"] == "pdmvserv"
    assert detail["status_transitions"][0]["by"].startswith("cli:")
    again = wms2("submit", "--from-reqmgr", RERECO)
    assert again.code == 0 and again.out.strip() == f"{RERECO} (already submitted)"
    assert len(fake.requests) == 2


def test_local_files_and_names_are_one_submission(cli_db: Database, fake: FakeReqMgr2, fixtures_dir: Path) -> None:
    stepchain = str(fixtures_dir / "reqmgr2" / "StepChainRequestDump.json")
    bad = wms2("submit", stepchain, "--from-reqmgr", RERECO, "--from-reqmgr", UNKNOWN)
    assert bad.code == 2 and "nothing was stored" in bad.err
    assert f"RequestName: ReqMgr2 has no request named {UNKNOWN}" in flat(bad.err)
    assert wms2("requests", "--json").json() == []
    invalid = wms2("submit", "--from-reqmgr", "../../etc/passwd", "--json")
    assert invalid.code == 2 and invalid.out and '"field": "RequestName"' in invalid.out
    assert len(fake.requests) == 2  # the bad name was never sent
    good = wms2("submit", stepchain, "--from-reqmgr", RERECO, "--from-reqmgr", TASKCHAIN, "--json").json()
    assert [r["name"] for r in good["requests"]] == [STEPCHAIN, RERECO, TASKCHAIN]
    assert {r["name"] for r in wms2("requests", "--json").json()} == {STEPCHAIN, RERECO, TASKCHAIN}


def test_local_unreachable_reqmgr2(cli_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    url = dead_url()
    monkeypatch.setenv("WMS2_REQMGR2__URL", url)
    monkeypatch.setenv("WMS2_REQMGR2__RETRIES", "0")
    r = wms2("submit", "--from-reqmgr", RERECO)
    assert r.code == 5 and f"ReqMgr2 at {url}/request unavailable" in flat(r.err)


def test_nothing_to_submit(cli_db: Database) -> None:
    r = wms2("submit")
    assert r.code == 2 and "nothing to submit" in r.err


def test_remote_the_server_fetches(state: State, server: Server, fake: FakeReqMgr2,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WMS2_REQMGR2__URL", dead_url())  # the CLI itself cannot reach ReqMgr2 ...
    state.settings.reqmgr2.url = fake.url  # ... the server can
    out = wms2("submit", "--from-reqmgr", RERECO, "--json", *server.args()).json()
    assert out == {"ok": True, "requests": [{"name": RERECO, "created": True}]}
    assert wms2("show", RERECO, "--json", *server.args("viewer")).json()["status"] == "submitted"
    assert len(fake.requests) == 1
    missing = wms2("submit", "--from-reqmgr", UNKNOWN, *server.args())
    assert missing.code == 2 and f"RequestName: ReqMgr2 has no request named {UNKNOWN}" in flat(missing.err)
    state.settings.reqmgr2.url = dead_url()
    state.settings.reqmgr2.retries = 0
    down = wms2("submit", "--from-reqmgr", TASKCHAIN, *server.args())
    assert down.code == 5 and "server answered 502: ReqMgr2 at http://127.0.0.1:" in flat(down.err)
