"""``wms2 demo --source reqmgr2 --json`` (issue 18 outside contract): every request ends ``completed`` in
WMS2, and ReqMgr2 (GET ``{url}/data/request?name=...``) shows them ``completed``.

The demo runs on the session's ReqMgr2 (``--reqmgr2-home``), not on a second server under
``HOME/reqmgr2``: the code path is the same (``wms2.devservices.reqmgr2.server.start`` finds it running),
one ReqMgr2 less to start per test session; and with ``--events`` requests of 1000 events.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reqmgr2.support import transitions
from wms2.config import load_settings
from wms2.engines.local_engine import stop_pool

pytestmark = pytest.mark.slow  # one worker runs every test of the ReqMgr2 server (tests/conftest.py)

FULL_CHAIN = ["new", "assignment-approved", "assigned", "staging", "staged", "acquired", "running-open",
              "running-closed", "completed"]
DEMO_TIMEOUT_S = 900  # the demo's own limit; the subprocess gets a minute more
# 1000 events per request instead of the sample's 20000: still a pilot round then a production round
# (adaptive), at a fraction of the CPU (the sample's size costs about 3.4 CPU-minutes, see reqmgr-sync.md).
EVENTS = 1000


def test_demo_through_reqmgr2(reqmgr2: dict[str, Any], tmp_path: Path) -> None:
    home = tmp_path / "demo"
    cmd = [sys.executable, "-m", "wms2.cli", "demo", "--home", str(home), "--source", "reqmgr2",
           "--reqmgr2-home", reqmgr2["home"], "--events", str(EVENTS), "--timeout", str(DEMO_TIMEOUT_S), "--json"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S + 60, check=False)
    finally:
        if (home / "wms2.toml").is_file():
            stop_pool(load_settings(home))  # the demo stops its pool; this is for a demo that crashed
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    names = [r["name"] for r in result["requests"]]
    assert len(names) == 2 and all(r["status"] == "completed" for r in result["requests"]), result["requests"]
    assert all(r["events_registered"] == EVENTS and len(r["rounds"]) >= 2 for r in result["requests"])
    assert result["reqmgr2"]["url"] == reqmgr2["url"]
    assert sorted(result["reqmgr2"]["statuses"]) == sorted(names)
    for name in names:
        answer = httpx.get(f"{result['reqmgr2']['url']}/data/request", params={"name": name},
                           headers={"Accept": "application/json"}, timeout=30)
        answer.raise_for_status()
        assert answer.json()["result"][0][name]["RequestStatus"] == "completed"
        assert transitions(reqmgr2, name) == FULL_CHAIN
