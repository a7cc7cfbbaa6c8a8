"""Hostile values bypassing request validation: rendering refuses them, or they stay inert data."""

from __future__ import annotations

import json

import pytest

from wms2.config import Settings
from wms2.domain.reqmgr import import_request
from wms2.domain.request import OutputDataset, RequestSpec
from wms2.planning.params import WorkflowState
from wms2.planning.render.quoting import RenderError
from wms2.planning.render.writer import write_round
from wms2.planning.round import plan_round
from wms2.planning.types import InputFile
from wms2.sandbox.manifest import WorkUnitManifest

from .conftest import data_document, inputs_for, mc_document
from .dagcheck import check_round

HOSTILE = [
    "x\nJOB evil evil.sub",
    'a"b',
    "$(whoami)",
    "T2_CH_CERN\")||true||(\"",
    ")||true",
    "ok\rRETRY",
    "../../../../tmp/x",
    "T2_CH_CERN\nrequirements = true",
    "name with space",
    "`id`",
]


def _spec(**update: object) -> RequestSpec:
    spec = import_request(mc_document(WMS2Adaptive=False, RequestNumEvents=30_000, SiteWhitelist=["T2_CH_CERN"]))
    return spec.model_copy(update=update)  # model_copy does not validate: the hostile values go through


def _nothing_written(settings: Settings) -> bool:
    base = settings.submit_base
    return not base.exists() or all(not any(p.iterdir()) for p in base.iterdir())


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("where", ["name", "site_whitelist", "site_blacklist", "ban", "workflow_id", "throttle"])
def test_hostile_values_are_refused_before_any_file(plan_settings: Settings, value: str, where: str) -> None:
    kwargs: dict = {}
    workflow_id = "7"
    if where == "name":
        spec = _spec(name=value)
    elif where == "site_whitelist":
        spec = _spec(site_whitelist=["T2_CH_CERN", value])
    elif where == "site_blacklist":
        spec = _spec(site_blacklist=[value])
    else:
        spec = _spec()
    if where == "ban":
        kwargs["site_bans"] = (value,)
    plan = plan_round(inputs_for(spec, plan_settings, **kwargs))
    if where == "workflow_id":
        workflow_id = value
    throttles = {"Processing": value} if where == "throttle" else None
    with pytest.raises(RenderError) as err:
        write_round(plan, spec, workflow_id, plan_settings, throttles=throttles)  # type: ignore[arg-type]
    assert "refusing to render" in str(err.value) or "escapes" in str(err.value)
    assert _nothing_written(plan_settings)


def _data_spec(value: str, where: str) -> tuple[RequestSpec, tuple[InputFile, ...]]:
    spec = import_request(data_document("FileBased", WMS2Adaptive=False))
    name = f"/P/{value}/AOD" if where == "dataset" else "/P/E-v1/AOD"
    out = OutputDataset.model_construct(name=name, step=spec.steps[0].name, tier="AOD")
    step = spec.steps[0].model_copy(update={"payload": {"evil": value}})
    update: dict = {"output_datasets": [out], "steps": [step]}
    if where == "lfn_base":
        update["merged_lfn_base"] = f"/store/{value}"
    spec = spec.model_copy(update=update)
    lfn = f"/store/data/{value}.root" if where == "lfn" else "/store/data/a.root"
    return spec, (InputFile(lfn, 10, lumis=((1, (1,)),)), InputFile("/store/data/b.root", 10))


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("where", ["dataset", "lfn", "lfn_base"])
def test_hostile_paths_in_the_manifest_are_refused(plan_settings: Settings, value: str, where: str) -> None:
    """Dataset names, LFNs and LFN bases become storage paths on the worker: refused, nothing written."""
    spec, files = _data_spec(value, where)
    plan = plan_round(inputs_for(spec, plan_settings, files=files, workflow=WorkflowState("7")))
    with pytest.raises(RenderError, match="refusing to render"):
        write_round(plan, spec, "7", plan_settings)
    assert _nothing_written(plan_settings)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_payload_stays_inert_json(plan_settings: Settings, value: str) -> None:
    """The opaque step payload only reaches manifest.json, JSON-encoded: the DAG and submit files keep
    exactly the intended commands and the manifest returns the value unchanged."""
    spec, files = _data_spec(value, "payload")
    plan = plan_round(inputs_for(spec, plan_settings, files=files, workflow=WorkflowState("7")))
    root = write_round(plan, spec, "7", plan_settings).submit_dir
    check_round(root, 1, 1)
    manifest = WorkUnitManifest.load(root / "mg_000000" / "manifest.json")
    assert manifest.steps[0].payload == {"evil": value}
    for name in ("group.dag", "proc.sub", "landing.sub", "merge.sub", "cleanup.sub"):
        assert value not in (root / "mg_000000" / name).read_text()
    json.loads((root / "mg_000000" / "manifest.json").read_text())


def test_hostile_values_through_the_engine_parsers(plan_settings: Settings) -> None:
    """A value that *is* accepted (a valid site) renders to exactly one requirements clause."""
    submit = pytest.importorskip("wms2.dagman.submit", reason="local engine submit parser not available")
    spec = _spec(site_blacklist=["T1_US_FNAL"])
    plan = plan_round(inputs_for(spec, plan_settings))
    root = write_round(plan, spec, "7", plan_settings).submit_dir
    desc = submit.parse_submit(root / "mg_000000" / "landing.sub", prepend={"node": "landing"})
    requirements = desc.expand(desc.raw("requirements") or "")
    assert "T2_CH_CERN" in requirements and "T1_US_FNAL" in requirements
    clauses = [c.strip() for c in requirements.replace("(", " ").replace(")", " ").split("&&")]
    assert [c for c in clauses if c] == ['GLIDEIN_CMSSite =?= "T2_CH_CERN"', 'GLIDEIN_CMSSite =!= "T1_US_FNAL"', "true"]
    assert set(desc.attrs) == {"CMS_RequestName", "CMS_WorkflowID", "CMS_NodeRole", "WMS2_Round", "WMS2_WorkUnit",
                               "DESIRED_Sites", "PeriodicRemoveReason"}
