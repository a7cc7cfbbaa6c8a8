"""`wms2 dev rucio start|stop|status --home DIR` on the session's real server (the CLI contract)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wms2.cli import app
from wms2.devservices import rucio_dev


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["dev", "rucio", *args])


@pytest.mark.slow
def test_status_refusal_stop_start(rucio_server: rucio_dev.ServerState) -> None:
    home = rucio_server.home
    status = json.loads(_invoke("status", "--home", home).stdout)
    assert status["running"] is True and status["url"] == rucio_server.url and "root_password" not in status
    again = _invoke("start", "--home", home)
    assert again.exit_code == 1 and "already runs" in again.output
    stopped = _invoke("stop", "--home", home)
    assert json.loads(stopped.stdout.splitlines()[-1])["stopped"] is True
    assert json.loads(_invoke("status", "--home", home).stdout)["running"] is False
    started = _invoke("start", "--home", home)
    assert started.exit_code == 0, started.output
    last = json.loads(started.stdout.strip().splitlines()[-1])  # the contract: one JSON object on the last line
    assert last["url"] == rucio_server.url and last["account"] == rucio_server.account
    assert last["password"] == rucio_server.password and set(last["rses"]) == set(rucio_server.rses)
    assert (Path(home) / "rucio.db").is_file()


def test_policy_package_accepts_cms_names(rucio_client: Any) -> None:
    """The project's policy package: CMS RSE names with lower case, block names with '#', LFN -> PFN."""
    rses = {r["rse"] for r in rucio_client.list_rses()}
    assert {"T2_XX_SiteA", "T1_XX_SiteB_Disk", "T1_XX_SiteB_Tape"} <= rses
    assert {r["rse"] for r in rucio_client.list_rses("rse_type=TAPE")} == {"T1_XX_SiteB_Tape"}
    pfns = rucio_client.lfns2pfns("T2_XX_SiteA", ["cms:/store/mc/X/Y/z.root"], operation="read")
    assert pfns["cms:/store/mc/X/Y/z.root"].endswith("/storage/T2_XX_SiteA/store/mc/X/Y/z.root")
