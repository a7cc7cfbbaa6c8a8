"""The adapter with the real ``htcondor2`` module and no daemons: every failure is typed."""

from __future__ import annotations

from pathlib import Path

import classad2
import htcondor2
import pytest

from wms2.config import EngineSettings
from wms2.engines.base import ScheddUnreachable, SubmitOptions
from wms2.engines.htcondor import CondorPool, HTCondorEngine

# Nothing listens on port 1: connections are refused at once.
DEAD = "127.0.0.1:1"


@pytest.fixture
def engine() -> HTCondorEngine:
    settings = EngineSettings(kind="htcondor", collector=DEAD, dagman_path="/bin/true")
    return HTCondorEngine(settings)


def test_default_adapter_uses_real_bindings(engine: HTCondorEngine) -> None:
    assert engine._pool._b is htcondor2


def test_collector_down(engine: HTCondorEngine) -> None:
    with pytest.raises(ScheddUnreachable, match=r"collector 127\.0\.0\.1:1 did not answer"):
        engine.choose_schedd()
    assert engine.ping("schedd.example") is False


def test_stale_schedd_address_relocates_then_fails(engine: HTCondorEngine) -> None:
    pool: CondorPool = engine._pool
    pool._locations["s"] = classad2.ClassAd(
        {"MyAddress": f"<{DEAD}?sock=schedd>", "CondorVersion": htcondor2.version(), "Name": "s"}
    )
    with pytest.raises(ScheddUnreachable, match="not located"):
        engine.query(1, "s")
    assert "s" not in pool._locations


def test_submit_with_dead_schedd(engine: HTCondorEngine, diamond: Path) -> None:
    engine._settings.schedds = ["s"]
    with pytest.raises(ScheddUnreachable):
        engine.submit_dag(diamond, SubmitOptions())
