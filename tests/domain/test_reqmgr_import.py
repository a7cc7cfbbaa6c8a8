"""Import of the six ReqMgr2 fixture documents, and rejection of bad ones with the field named."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wms2.domain.enums import SplittingAlgo
from wms2.domain.reqmgr import ImportPolicy, RequestImportError, import_request

NOW = datetime(2026, 11, 28, 10, 11, 12, 345600, tzinfo=UTC)


def load(fixtures_dir: Path, name: str) -> Any:
    return json.loads((fixtures_dir / "reqmgr2" / f"{name}.json").read_text())


def imp(doc: Any, source: str = "doc") -> Any:
    return import_request(doc, ImportPolicy(now=NOW, default_requestor="alice"), source=source)


def test_rereco_full_document(fixtures_dir: Path) -> None:
    spec = imp(load(fixtures_dir, "ReRecoRequestDump"))
    assert spec.name == "pdmvserv_Run2017F-v1_SingleElectron_09Aug2019_UL2017_EcalRecovery_200506_120455_3146"
    assert spec.request_type == "ReReco"
    assert spec.input_dataset == "/SingleElectron/Run2017F-v1/RAW"
    assert spec.splitting.algo == SplittingAlgo.EventAwareLumiBased
    assert spec.splitting.events_per_job == 9600
    assert spec.resources.memory_mb == 15900 and spec.resources.multicore == 8
    assert spec.run_whitelist == [306459, 306456, 305064, 306125]
    assert "T1_US_FNAL" in spec.site_whitelist
    assert len(spec.output_datasets) == 7
    assert {o.tier for o in spec.output_datasets} == {"MINIAOD", "ALCARECO", "AOD", "DQMIO"}
    assert spec.priority == 500000 and spec.processing_version == 1
    assert [s.name for s in spec.steps] == ["Run2017F-v1_SingleElectron_09Aug2019_UL2017_EcalRecovery"]


def test_rereco_template_with_lumi_mask(fixtures_dir: Path) -> None:
    spec = imp(load(fixtures_dir, "ReReco_LumiMask"), source="ReReco_LumiMask")
    # RequestString is a placeholder: the name is generated from the file stem, the requestor and the time.
    assert spec.name == "alice_ReReco_LumiMask_261128_101112_3456"
    assert spec.lumi_mask == {356164: [(11, 15), (21, 30), (40, 40)], 356165: [(1, 10), (16, 20)], 356174: [(1, 2)]}
    assert spec.processing_version == 19  # assignRequest wins over createRequest
    assert spec.site_whitelist == []  # the placeholder counts as absent
    assert spec.merged_lfn_base == "/store/backfill/1"
    assert spec.resources.memory_mb == 10000 and spec.resources.multicore == 4
    assert spec.output_datasets[0].name == "/MuonEG/Run2022C-27Jun2023-v19/AOD"


def test_stepchain_generation(fixtures_dir: Path) -> None:
    spec = imp(load(fixtures_dir, "StepChainRequestDump"))
    assert spec.is_generation and spec.splitting.algo is None
    assert spec.splitting.request_num_events == 20000 and spec.splitting.events_per_job == 200
    assert [s.name for s in spec.steps] == ["GENSIM", "DIGI", "RECO"]
    assert spec.steps[1].input_step == "GENSIM" and spec.steps[1].input_module == "RAWSIMoutput"
    assert spec.steps[1].mc_pileup is not None and spec.steps[1].mc_pileup.endswith("/GEN-SIM-DIGI-RAW")
    assert spec.steps[0].cmssw_version == "CMSSW_7_1_25_patch2" and spec.steps[1].cmssw_version == "CMSSW_8_0_21"
    assert {o.step for o in spec.output_datasets} == {"GENSIM", "DIGI", "RECO"}


def test_stepchain_templates(fixtures_dir: Path) -> None:
    psi = imp(load(fixtures_dir, "SC_ProdPsi"), source="SC_ProdPsi")
    assert psi.is_generation and psi.splitting.request_num_events == 10000
    # "Automatic EventBased splitting": derived from TimePerEvent and the 8 h target.
    assert psi.splitting.events_per_job == 700
    assert (psi.resources.multicore == 8 and psi.splitting.first_lumi == 101) or psi.splitting.first_lumi >= 1
    six = imp(load(fixtures_dir, "SC_6Tasks_PU"), source="SC_6Tasks_PU")
    assert len(six.steps) == 6
    assert six.steps[2].mc_pileup is not None  # PREMIX pileup in Step3
    assert [o.step for o in six.output_datasets] == [six.steps[4].name, six.steps[5].name]  # KeepOutput


def test_taskchain_lumi_mask(fixtures_dir: Path) -> None:
    spec = imp(load(fixtures_dir, "TaskChainRequestDump"))
    assert spec.splitting.algo == SplittingAlgo.LumiBased and spec.splitting.lumis_per_job == 4
    assert spec.lumi_mask == {202205: [(1, 30), (90, 110)], 202209: [(2, 11), (36, 50), (76, 125)]}
    assert spec.input_dataset == "/JetHT/Run2012C-v1/RAW"
    assert [s.name for s in spec.steps] == ["HLTD", "RECODreHLT"]


def _errors(doc: Any) -> dict[str, str]:
    with pytest.raises(RequestImportError) as info:
        imp(doc)
    return {e.field: e.message for e in info.value.errors}


@pytest.mark.parametrize(
    ("mutate", "field", "fragment"),
    [
        (lambda d: d.pop("RequestType"), "splitting", ""),
        (lambda d: d.update(RequestName="../../etc/passwd"), "RequestName", "dot"),
        (lambda d: d.update(RequestName="a/../b"), "RequestName", "may only contain"),
        (lambda d: d.update(RequestName="a\nb"), "RequestName", "may only contain"),
        (lambda d: d.update(RequestName=".hidden"), "RequestName", "dot"),
        (lambda d: d.update(RequestName="x" * 500), "RequestName", "limit"),
        (lambda d: d.update(Memory="lots"), "Memory", "number"),
        (lambda d: d.update(Multicore=[1]), "Multicore", "integer"),
        (lambda d: d.update(Memory=40000), "Memory", "MB/core"),
        (lambda d: d.update(RequestPriority=10**9), "RequestPriority", "less than"),
        (lambda d: d["Step1"].update(ProcessingString="GENSIM\nJOB evil evil.sub"), "Step1.ProcessingString",
         "forbidden"),
        (lambda d: d["Step1"].update(GlobalTag='MC"V1'), "Step1.GlobalTag", "forbidden"),
        (lambda d: d.update(SiteWhitelist=["T2_CH_CERN", "not a site"]), "SiteWhitelist.1", "site"),
        (lambda d: d.update(WMS2ProductionSteps=[{"fraction": 0.5, "priority": 1000},
                                                 {"fraction": 0.3, "priority": 500}]),
         "WMS2ProductionSteps", "increase"),
        (lambda d: d.update(WMS2ProductionSteps=[{"fraction": 0.3, "priority": 1000},
                                                 {"fraction": 0.5, "priority": 2000}]),
         "WMS2ProductionSteps", "decrease"),
        (lambda d: d.update(WMS2Urgent=True, WMS2ProductionSteps=[{"fraction": 0.3, "priority": 1000}]),
         "WMS2ProductionSteps", "urgent"),
        (lambda d: d["Step1"].pop("RequestNumEvents"), "", "RequestNumEvents"),
        (lambda d: d.update(StepChain="three"), "StepChain", "positive integer"),
    ],
)
def test_bad_documents_name_the_field(fixtures_dir: Path, mutate: Any, field: str, fragment: str) -> None:
    doc = copy.deepcopy(load(fixtures_dir, "StepChainRequestDump"))
    mutate(doc)
    if field == "splitting":  # a missing RequestType defaults to "Unknown" and is still importable
        imp(doc)
        return
    errors = _errors(doc)
    text = " ".join(f"{k}: {v}" for k, v in errors.items())
    assert any(k.startswith(field) for k in errors), text
    assert fragment in text, text


def test_not_an_object_and_empty() -> None:
    assert "<document>" in _errors([1, 2])
    with pytest.raises(RequestImportError):
        imp({})


def test_lumi_mask_validation(fixtures_dir: Path) -> None:
    doc = load(fixtures_dir, "TaskChainRequestDump")
    doc["Task1"]["LumiList"] = {"202205": [[30, 1]]}
    errors = _errors(doc)
    assert any(k.startswith("Task1.LumiList") for k in errors), errors
