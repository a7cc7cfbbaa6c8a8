from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine_htcondor.fake_htcondor import FakeHTCondor
from wms2.config import EngineSettings
from wms2.engines.htcondor import CondorPool, HTCondorEngine

SCHEDDS = ["schedd1.example", "schedd2.example", "schedd3.example"]
# An existing file standing in for condor_dagman: enough for Submit.from_dag (reference §5.2).
FAKE_DAGMAN = "/bin/true"

DIAMOND = """\
# diamond
JOB A node.sub
JOB B node.sub
JOB C node.sub
JOB D node.sub
PARENT A CHILD B C
PARENT B C CHILD D
"""


@pytest.fixture
def fake() -> FakeHTCondor:
    return FakeHTCondor(SCHEDDS)


@pytest.fixture
def settings(fake: FakeHTCondor) -> EngineSettings:
    return EngineSettings(kind="htcondor", collector=fake.collector_address, dagman_path=FAKE_DAGMAN)


@pytest.fixture
def engine(settings: EngineSettings, fake: FakeHTCondor) -> HTCondorEngine:
    return HTCondorEngine(settings, pool=CondorPool(settings.collector, bindings=fake))


@pytest.fixture
def diamond(tmp_path: Path) -> Path:
    dag_dir = tmp_path / "round1"
    dag_dir.mkdir()
    (dag_dir / "diamond.dag").write_text(DIAMOND)
    (dag_dir / "node.sub").write_text("executable = /bin/true\nqueue\n")
    return dag_dir / "diamond.dag"
