"""``make_engine`` and the rule that the fake bindings never leak into ``src/``."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from wms2.config import EngineSettings, Settings
from wms2.engines.base import Engine
from wms2.engines.factory import make_engine
from wms2.engines.htcondor import HTCondorEngine

SRC = Path(__file__).resolve().parents[2] / "src" / "wms2"


def _settings(tmp_path: Path, **engine: object) -> Settings:
    return Settings(home=tmp_path, engine=EngineSettings(**engine))


def test_htcondor_kind(tmp_path: Path) -> None:
    engine = make_engine(_settings(tmp_path, kind="htcondor", collector="cm.example:9618", dagman_path="/bin/true"))
    assert isinstance(engine, HTCondorEngine) and isinstance(engine, Engine)
    assert engine.name == "htcondor"


def test_local_kind_imports_local_engine_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Settings] = []

    class StandIn:
        def __init__(self, settings: Settings) -> None:
            built.append(settings)

    module = types.ModuleType("wms2.engines.local_engine")
    module.LocalEngine = StandIn  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "wms2.engines.local_engine", module)
    settings = _settings(tmp_path, kind="local")
    assert isinstance(make_engine(settings), StandIn)
    assert built == [settings]


def test_unknown_kind(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    object.__setattr__(settings.engine, "kind", "slurm")
    with pytest.raises(ValueError, match="unknown engine 'slurm'"):
        make_engine(settings)


def test_env_configures_htcondor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WMS2_ENGINE__KIND", "htcondor")
    monkeypatch.setenv("WMS2_ENGINE__COLLECTOR", "cmsgwms-collector-global.cern.ch:9620")
    monkeypatch.setenv("WMS2_ENGINE__SCHEDDS", '["vocms0250.cern.ch", "vocms0251.cern.ch"]')
    monkeypatch.setenv("WMS2_ENGINE__SCHEDD_POLICY", "round_robin")
    settings = Settings(home=tmp_path)
    assert settings.engine.kind == "htcondor"
    assert settings.engine.collector == "cmsgwms-collector-global.cern.ch:9620"
    assert settings.engine.schedds == ["vocms0250.cern.ch", "vocms0251.cern.ch"]
    assert settings.engine.schedd_policy == "round_robin"


def test_no_fake_in_src() -> None:
    offenders = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if "fake_htcondor" in p.read_text() or "FakeHTCondor" in p.read_text()
    ]
    assert offenders == []
