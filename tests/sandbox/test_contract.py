"""The sandbox's contract models (msgspec Structs): wire format, validation, errors that name the field.

``data/`` holds documents written by the former pydantic models (commit e0a80a5, every field set): they
must still read, and writing them back must give the same JSON.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from wms2.sandbox.contract import Contract, ContractError
from wms2.sandbox.manifest import DistortionSpec, FaultSpec, JobSpec, SimulatorConfig, WorkUnitManifest
from wms2.sandbox.report import JobReport
from wms2.sandbox.results import MergeOutput, PostResult, WorkUnitMetrics
from wms2.sandbox.simrun import SimulatorRun

DATA = Path(__file__).resolve().parent / "data"
DOCUMENTS: dict[str, type[Contract]] = {
    "manifest.json": WorkUnitManifest,
    "merge_output.json": MergeOutput,
    "work_unit_metrics.json": WorkUnitMetrics,
    "proc_000001.post.json": PostResult,
    "proc_000000.report.json": JobReport,
    "simulator.json": SimulatorRun,
}


def _doc(name: str) -> Any:
    return json.loads((DATA / name).read_text())


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_documents_written_by_the_pydantic_models_read_and_write_back_the_same(name: str) -> None:
    model = DOCUMENTS[name]
    text = (DATA / name).read_text()
    obj = model.model_validate_json(text)
    exclude_none = name == "manifest.json"  # WorkUnitManifest.dump leaves out unset optional fields
    assert json.loads(obj.model_dump_json(indent=1, exclude_none=exclude_none)) == json.loads(text)
    assert obj.model_dump(mode="json", exclude_none=exclude_none) == json.loads(text)
    assert model.model_validate(obj.model_dump()) == obj


def test_manifest_load_dump_round_trip(tmp_path: Path) -> None:
    manifest = WorkUnitManifest.load(DATA / "manifest.json")
    assert manifest.job("proc_000001").input_files[0].max_events == 20
    assert manifest.steps[0].simulator is not None and manifest.steps[0].simulator.distortion == DistortionSpec(
        branch="jet_pt", shift=1.0, scale=1.1, drop_fraction=0.1)
    manifest.dump(tmp_path / "m.json")
    assert WorkUnitManifest.load(tmp_path / "m.json") == manifest
    with pytest.raises(KeyError, match="proc_000009"):
        manifest.job("proc_000009")


def _refused(model: type[Contract], doc: Any) -> str:
    """The errors of both ways in (JSON text and a Python dict), one per line."""
    with pytest.raises(ContractError) as info:
        model.model_validate_json(json.dumps(doc))
    assert isinstance(info.value, ValueError)
    with pytest.raises(ContractError) as again:
        model.model_validate(doc)
    return f"{info.value}\n{again.value}"


def _assert_names(message: str, model: type[Contract], fragments: list[str]) -> None:
    for line in message.splitlines():
        assert line.startswith(f"invalid {model.__name__}: "), line
        for fragment in fragments:
            assert fragment in line, line


def _set(doc: Any, path: list[Any], value: Any) -> Any:
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "fragments"),
    [
        (["jobs", 0, "index"], -1, [">= 0", "$.jobs[0].index"]),
        (["jobs", 1, "input_files", 0, "events"], "many", ["Expected `int`", "$.jobs[1].input_files[0].events"]),
        (["steps", 1, "kind"], "python", ["Invalid enum value 'python'", "$.steps[1].kind"]),
        (["steps", 0, "threads"], 0, [">= 1", "$.steps[0].threads"]),
        (["steps", 0, "simulator", "filter_efficiency"], 0, ["> 0", "$.steps[0].simulator.filter_efficiency"]),
        (["steps", 0, "simulator", "distortion", "branch"], "", ["length >= 1",
                                                                  "$.steps[0].simulator.distortion.branch"]),
        (["faults", 0, "fail_attempts"], 0, [">= 1", "$.faults[0].fail_attempts"]),
        (["merge", "oversized_fraction"], 1.5, ["<= 1", "$.merge.oversized_fraction"]),
        (["post", "memory_bump_factor"], 1.0, ["> 1.0", "$.post.memory_bump_factor"]),
        (["stageout", "mode"], "cloud", ["Invalid enum value 'cloud'", "$.stageout.mode"]),
        (["round"], None, ["Expected `int`, got `null`", "$.round"]),
        (["steps", 0, "simulatr"], {}, ["unknown field `simulatr`", "$.steps[0]"]),
        (["typo"], 1, ["unknown field `typo`"]),
    ],
)
def test_a_bad_manifest_is_refused_with_the_field_named(path: list[Any], value: Any, fragments: list[str]) -> None:
    _assert_names(_refused(WorkUnitManifest, _set(_doc("manifest.json"), path, value)), WorkUnitManifest, fragments)


def test_a_manifest_missing_a_required_field_is_refused() -> None:
    doc = _doc("manifest.json")
    del doc["jobs"][0]["node"]
    _assert_names(_refused(WorkUnitManifest, doc), WorkUnitManifest, ["missing required field `node` - at `$.jobs[0]`"])


def test_malformed_json_is_a_contract_error() -> None:
    with pytest.raises(ContractError, match=r"invalid PostResult: .*(truncated|JSON)"):
        PostResult.model_validate_json('{"node": "proc_000000", ')


@pytest.mark.parametrize(
    ("model", "name", "path", "value", "fragments"),
    [
        (PostResult, "proc_000001.post.json", ["classification", "category"], "bad luck",
         ["Invalid enum value 'bad luck'", "$.classification.category"]),
        (PostResult, "proc_000001.post.json", ["attempt"], -1, [">= 0", "$.attempt"]),
        (MergeOutput, "merge_output.json", ["files", 0, "adler32"], "XYZ", ["match", "$.files[0].adler32"]),
        (MergeOutput, "merge_output.json", ["files", 0, "event_ranges", 0], [1], ["length 2",
                                                                                  "$.files[0].event_ranges[0]"]),
        (WorkUnitMetrics, "work_unit_metrics.json", ["steps", 0, "metrics", "cpu_s", "median"], "fast",
         ["Expected `float`", "$.steps[0].metrics[...].median"]),
        (JobReport, "proc_000000.report.json", ["outputs", 0, "size"], 1.5, ["Expected `int`", "$.outputs[0].size"]),
        (SimulatorRun, "simulator.json", ["first_event"], 0, [">= 1", "$.first_event"]),
        (SimulatorRun, "simulator.json", ["config", "extra"], 1, ["unknown field `extra`", "$.config"]),
    ],
)
def test_a_bad_result_is_refused_with_the_field_named(model: type[Contract], name: str, path: list[Any],
                                                      value: Any, fragments: list[str]) -> None:
    _assert_names(_refused(model, _set(_doc(name), path, value)), model, fragments)


def test_results_ignore_unknown_fields_as_they_always_did() -> None:
    """Result documents (not the manifest) were lenient pydantic models; that stays."""
    doc = _doc("proc_000001.post.json") | {"added_later": 1}
    assert PostResult.model_validate_json(json.dumps(doc)).node == "proc_000001"


def test_dump_helpers() -> None:
    job = JobSpec(node="proc_000000", index=0)
    assert "first_event" not in job.model_dump(exclude_none=True)
    assert job.model_dump()["first_event"] is None
    assert "node" not in job.model_dump(exclude={"node"})
    copy_ = job.model_copy(update={"events": 5})
    assert copy_.events == 5 and job.events == 0
    report = JobReport.model_validate_json((DATA / "proc_000000.report.json").read_text())
    assert report.event_range == (1, 20)
    assert report.model_dump()["event_range"] == (1, 20)
    assert report.model_dump(mode="json")["event_range"] == [1, 20]


def test_lax_validation_accepts_numbers_in_strings_like_pydantic() -> None:
    assert SimulatorConfig.model_validate({"seed": "7"}, strict=False).seed == 7
    with pytest.raises(ContractError, match=r"\$\.seed"):
        SimulatorConfig.model_validate({"seed": "7"})


def test_values_pydantic_coerced_on_construction_still_encode(tmp_path: Path) -> None:
    """Paths and numpy numbers given to str/int/float fields are written as str/int/float."""
    np = pytest.importorskip("numpy")
    run = SimulatorRun(step="s", workdir=tmp_path, events=np.int64(5), config=SimulatorConfig(memory_mb=np.float64(2)))
    back = SimulatorRun.model_validate_json(run.model_dump_json())
    assert back.workdir == str(tmp_path) and back.events == 5 and back.config.memory_mb == 2.0


# --- the request document (pydantic) carries FaultSpec and DistortionSpec ------------------------------------

FAULT_AS_BEFORE = {  # what the pydantic FaultSpec dumped: every field, unset ones as null
    "nodes": None, "exit_code": 8021, "signal": None, "crash_after_events": None, "no_output": False,
    "memory_blowup_mb": None, "slow_factor": None, "only_at_site": None, "fail_attempts": 2,
    "bad_input_lfn": None, "step": None, "work_units": None, "rounds": None,
}


def _stepchain(fixtures_dir: Path) -> Any:
    return json.loads((fixtures_dir / "reqmgr2" / "StepChainRequestDump.json").read_text())


def _import(doc: Any) -> Any:
    from wms2.domain.reqmgr import ImportPolicy, import_request

    return import_request(doc, ImportPolicy(default_requestor="alice"), source="doc")


def test_request_document_keeps_its_json(fixtures_dir: Path) -> None:
    from wms2.domain.request import RequestSpec

    doc = _stepchain(fixtures_dir) | {
        "WMS2Faults": [{"exit_code": 8021, "fail_attempts": 2}],
        "WMS2Simulator": {"seed": 3, "distortion": {"branch": "jet_pt", "shift": 2}},
    }
    spec = _import(doc)
    assert spec.faults == [FaultSpec(exit_code=8021, fail_attempts=2)]
    dumped = json.loads(spec.model_dump_json())
    assert dumped["faults"] == [FAULT_AS_BEFORE]
    assert dumped["simulator"]["distortion"] == {"branch": "jet_pt", "shift": 2.0, "scale": 1.0,
                                                 "drop_fraction": 0.0, "remove": False}
    assert spec.model_dump()["faults"] == [FAULT_AS_BEFORE]
    assert RequestSpec.model_validate_json(spec.model_dump_json()) == spec
    schema = json.dumps(RequestSpec.model_json_schema())
    assert "fail_attempts" in schema and "drop_fraction" in schema


@pytest.mark.parametrize(
    ("key", "value", "field", "fragments"),
    [
        ("WMS2Faults", [{"fail_attempts": 0}], "WMS2Faults.0", [">= 1", "$.fail_attempts"]),
        ("WMS2Faults", [{"exit_cod": 1}], "WMS2Faults.0", ["unknown field `exit_cod`"]),
        ("WMS2Faults", [{}, {"only_at_site": "not a site"}], "WMS2Faults", ["fault 1", "site name"]),
        ("WMS2Simulator", {"distortion": {"branch": "x", "drop_fraction": 2}}, "WMS2Simulator.distortion",
         ["<= 1", "$.drop_fraction"]),
    ],
)
def test_a_bad_fault_in_a_request_names_the_field(fixtures_dir: Path, key: str, value: Any, field: str,
                                                  fragments: list[str]) -> None:
    from wms2.domain.reqmgr import RequestImportError

    with pytest.raises(RequestImportError) as info:
        _import(_stepchain(fixtures_dir) | {key: value})
    errors = {e.field: e.message for e in info.value.errors}
    text = " ".join(f"{k}: {v}" for k, v in errors.items())
    assert any(k.startswith(field) for k in errors), text
    for fragment in fragments:
        assert fragment in text, text
