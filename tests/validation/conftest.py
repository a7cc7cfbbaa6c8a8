"""Simulator outputs for the validation tests: a reference and variants (same seed, other seed,
a 2 % shift of one branch, a removed branch, dropped entries), written once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from wms2.config import ValidationSettings
from wms2.sandbox.manifest import DistortionSpec, OutputModule, SimulatorConfig
from wms2.sandbox.simulator import SimulatorRun, simulate

EVENTS_PER_JOB = 20_000  # two jobs per set: 40,000 events, enough to see a 2 % scale change
JOBS = 2
TIER = "GEN-SIM"


def write_set(directory: Path, seed: int, distortion: DistortionSpec | None = None, jobs: int = JOBS,
              events: int = EVENTS_PER_JOB) -> list[Path]:
    """Run the simulator ``jobs`` times (consecutive event ranges) and return the ROOT files."""
    files = []
    for job in range(jobs):
        workdir = directory / f"job{job}"
        workdir.mkdir(parents=True, exist_ok=True)
        run = SimulatorRun(
            step="GEN", events=events, first_event=1 + job * events, lumis={"1": [1, 2, 3, 4]},
            config=SimulatorConfig(cpu_seconds_per_event=0.0, memory_mb=0.0, size_per_event_kb={TIER: 0.1},
                                   seed=seed, distortion=distortion),
            outputs=[OutputModule(module="out", tier=TIER)], workdir=str(workdir),
        )
        assert simulate(run) == 0
        files.append(workdir / "out.root")
    return files


@dataclass(frozen=True)
class Sets:
    ref: list[Path]
    same: list[Path]
    other_seed: list[Path]
    shifted: list[Path]
    shifted_other_seed: list[Path]
    removed: list[Path]
    dropped: list[Path]


SHIFT = DistortionSpec(branch="LeadJet_pt", scale=1.02)


@pytest.fixture(scope="session")
def sets(tmp_path_factory: pytest.TempPathFactory) -> Sets:
    root = tmp_path_factory.mktemp("validation-sets")
    return Sets(
        ref=write_set(root / "ref", seed=1),
        same=write_set(root / "same", seed=1),
        other_seed=write_set(root / "other", seed=2),
        shifted=write_set(root / "shifted", seed=1, distortion=SHIFT),
        shifted_other_seed=write_set(root / "shifted2", seed=2, distortion=SHIFT),
        removed=write_set(root / "removed", seed=1, distortion=DistortionSpec(branch="MET_pt", remove=True)),
        dropped=write_set(root / "dropped", seed=1,
                          distortion=DistortionSpec(branch="genWeight", drop_fraction=0.01)),
    )


@pytest.fixture
def cfg() -> ValidationSettings:
    return ValidationSettings(workers=1)
