"""Helpers for the planning tests: requests from the shared fixtures or small synthetic documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wms2.config import Settings, load_settings
from wms2.domain.reqmgr import import_request
from wms2.domain.request import RequestSpec
from wms2.planning.params import PlanInputs, WorkflowState

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
REQMGR = FIXTURES / "reqmgr2"
FIXTURE_NAMES = sorted(p.stem for p in REQMGR.glob("*.json"))


def fixture_spec(stem: str) -> RequestSpec:
    return import_request(json.loads((REQMGR / f"{stem}.json").read_text()), source=stem)


def mc_document(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "RequestName": "test_mc_request",
        "RequestType": "MonteCarlo",
        "RequestPriority": 90000,
        "RequestNumEvents": 1_000_000,
        "EventsPerJob": 10_000,
        "Memory": 2000,
        "Multicore": 1,
        "TimePerEvent": 1.0,
        "SizePerEvent": 10.0,
        "PrimaryDataset": "TestPrimary",
        "AcquisitionEra": "TestEra",
        "ProcessingString": "Test",
        "ProcessingVersion": 1,
        "CMSSWVersion": "CMSSW_14_0_0",
        "ScramArch": "el9_amd64_gcc12",
    }
    doc.update(extra)
    return doc


def data_document(algo: str, **extra: Any) -> dict[str, Any]:
    doc = mc_document(RequestName=f"test_{algo.lower()}", RequestType="ReReco",
                      InputDataset="/TestPrimary/Run2024A-v1/RAW", SplittingAlgo=algo, LumisPerJob=3,
                      FilesPerJob=2, EventsPerJob=250)
    doc.pop("RequestNumEvents")
    doc.update(extra)
    return doc


@pytest.fixture
def plan_settings(tmp_path: Path) -> Settings:
    return load_settings(tmp_path / "home")


def inputs_for(spec: RequestSpec, settings: Settings, **kw: Any) -> PlanInputs:
    state = kw.pop("workflow", None) or WorkflowState(
        "7", 0, spec.splitting.first_event, spec.splitting.first_lumi)
    return PlanInputs(spec, state, settings.planning, settings.resources, **kw)
