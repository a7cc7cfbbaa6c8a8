"""`wms2 demo --data rucio`: the demo end to end with its outputs registered in a real local Rucio server
(its own, under HOME/rucio, stopped at the end); every request completes and every block is closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from wms2.core.demo import load_samples, run_demo
from wms2.devservices import rucio_dev

DEMO_TIMEOUT_S = 1500.0  # ~2 min idle; 7 min measured on the loaded 2-core machine
#: Events of the generation request: two rounds and more than one block, a fifth of the sample's 20,000
#: (the adaptive rounds' growth is the lifecycle tests' subject, not this one's).
GENERATION_EVENTS = 4000


@pytest.mark.slow
def test_demo_with_rucio(tmp_path: Path, rucio_server: rucio_dev.ServerState) -> None:
    del rucio_server  # only to fail early, with the install instruction, when the server venv is missing
    home = tmp_path / "demo"
    documents = load_samples()
    documents[0][1]["Step1"]["RequestNumEvents"] = GENERATION_EVENTS
    result = run_demo(home, reset=True, timeout_s=DEMO_TIMEOUT_S, data="rucio", documents=documents)
    assert result.ok, result.requests
    assert {r["status"] for r in result.requests} == {"completed"}
    assert result.rucio is not None
    blocks = [b for bs in result.rucio["datasets"].values() for b in bs]
    archived = sum(r["blocks_archived"] for r in result.requests)
    assert len(blocks) == archived > 0  # every archived WMS2 block is one closed Rucio dataset
    for b in blocks:
        assert b["open"] is False and b["files"] > 0
        assert [r["rse_expression"] for r in b["rules"]] == ["T1_XX_SiteB_Tape"]
        assert sum(n for k, n in b["replicas"].items() if k.endswith("AVAILABLE")) == b["files"]
    assert rucio_dev.status(home / "rucio")["running"] is False  # the demo leaves no server behind
