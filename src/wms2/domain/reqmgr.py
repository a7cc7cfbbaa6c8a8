"""Map ReqMgr2 request documents onto :class:`RequestSpec`.

Accepts full documents (as ``GET /reqmgr2/data/request`` returns them, optionally inside the
``{"result": [{name: doc}]}`` envelope) and ``{"createRequest": ..., "assignRequest": ...}`` templates
(assignment values win; ``*-OVERRIDE-ME`` placeholders count as absent).  Every error names the
document field at fault.  Pure: no I/O, no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from wms2.domain.request import RequestSpec

PLACEHOLDER_SUFFIX = "-OVERRIDE-ME"
_DEFAULT_TIME_PER_EVENT = 12.0
_DEFAULT_SIZE_PER_EVENT = 512.0
_DEFAULT_MEMORY = 2300.0
_DEFAULT_PRIORITY = 8000


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class RequestImportError(ValueError):
    """The document cannot become a WMS2 request; ``errors`` lists every field at fault."""

    def __init__(self, errors: list[FieldError], source: str | None = None) -> None:
        self.errors = errors
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(where + "; ".join(str(e) for e in errors))


@dataclass(frozen=True)
class ImportPolicy:
    """Settings-dependent checks and defaults (from ``Settings.resources``)."""

    max_memory_per_core_mb: float = 3000.0
    target_wall_time_s: float = 8 * 3600.0
    wall_time_overhead_s: float = 600.0
    events_per_job_rounding: int = 100
    default_requestor: str = "wms2"
    now: datetime | None = None


def is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and value.endswith(PLACEHOLDER_SUFFIX)


def _clean(value: Any) -> Any:
    """Drop template placeholders, recursively."""
    if is_placeholder(value):
        return None
    if isinstance(value, list):
        return [v for v in (_clean(x) for x in value) if v is not None]
    if isinstance(value, dict):
        return {k: c for k, v in value.items() if (c := _clean(v)) is not None}
    return value


def unwrap_document(doc: Any) -> tuple[dict[str, Any], bool]:
    """Return ``(flat document, is_template)``; accepts the ReqMgr2 ``result`` envelope."""
    if not isinstance(doc, dict):
        raise RequestImportError([FieldError("<document>", "must be a JSON object")])
    if "result" in doc and isinstance(doc["result"], list) and len(doc["result"]) == 1:
        inner = doc["result"][0]
        if isinstance(inner, dict) and len(inner) == 1 and isinstance(next(iter(inner.values())), dict):
            inner = next(iter(inner.values()))
        doc = inner
    if "createRequest" in doc:
        create, assign = doc.get("createRequest"), doc.get("assignRequest", {})
        if not isinstance(create, dict) or not isinstance(assign, dict):
            raise RequestImportError([FieldError("createRequest", "createRequest/assignRequest must be objects")])
        merged = _clean(create)
        for key, value in _clean(assign).items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            elif value not in (None, [], {}) or key not in merged:
                merged[key] = value
        return merged, True
    return _clean(doc), False


class _Mapper:
    """Builds the RequestSpec input and remembers where each value came from."""

    def __init__(self, doc: dict[str, Any], template: bool, policy: ImportPolicy, source: str | None) -> None:
        self.doc = doc
        self.template = template
        self.policy = policy
        self.source = source
        self.origin: dict[str, str] = {}
        self.errors: list[FieldError] = []
        self.chain_key = "Step" if "StepChain" in doc else "Task" if "TaskChain" in doc else None

    # -- helpers ---------------------------------------------------------------------------------
    def take(self, spec_path: str, key: str, default: Any = None) -> Any:
        self.origin[spec_path] = key
        return self.doc.get(key, default)

    def per_step(self, spec_path: str, key: str, step_key: str, step_doc: dict, step_name: str) -> Any:
        """Value from the step dict, else the top-level value (scalar or dict keyed by step name)."""
        if key in step_doc:
            self.origin[spec_path] = f"{step_key}.{key}" if self.chain_key else key
            return step_doc[key]
        top = self.doc.get(key)
        if isinstance(top, dict):
            self.origin[spec_path] = f"{key}.{step_name}"
            return top.get(step_name)
        self.origin[spec_path] = key
        return top

    def step_only(self, spec_path: str, key: str, step_key: str, step_doc: dict, step_name: str) -> Any:
        """Like :meth:`per_step` but ignores a scalar top-level value (it applies to the whole job)."""
        if not self.chain_key:
            return None
        if key in step_doc or isinstance(self.doc.get(key), dict):
            return self.per_step(spec_path, key, step_key, step_doc, step_name)
        return None

    def step_docs(self) -> list[tuple[str, dict[str, Any]]]:
        if self.chain_key is None:
            return [("<top>", self.doc)]
        count_key = f"{self.chain_key}Chain"
        count = self.doc.get(count_key)
        if not isinstance(count, int) or count < 1:
            self.errors.append(FieldError(count_key, "must be a positive integer"))
            return []
        result = []
        for i in range(1, count + 1):
            key = f"{self.chain_key}{i}"
            step = self.doc.get(key)
            if not isinstance(step, dict):
                self.errors.append(FieldError(key, f"missing or not an object ({count_key} is {count})"))
                continue
            result.append((key, step))
        return result

    # -- pieces ----------------------------------------------------------------------------------
    def name(self) -> str | None:
        name = self.doc.get("RequestName")
        if name is not None:
            self.origin["name"] = "RequestName"
            return name
        request_string = self.doc.get("RequestString") or self.source
        self.origin["name"] = "RequestString"
        if not isinstance(request_string, str) or not request_string:
            self.errors.append(FieldError("RequestString", "needed to generate a RequestName"))
            return None
        now = self.policy.now or datetime.now(UTC)
        requestor = self.doc.get("Requestor") or self.policy.default_requestor
        serial = int(now.microsecond / 100)
        return f"{requestor}_{request_string}_{now:%y%m%d_%H%M%S}_{serial}"

    def steps(self) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = []
        for index, (key, sdoc) in enumerate(self.step_docs()):
            sname = sdoc.get(f"{self.chain_key}Name") if self.chain_key else self.doc.get("RequestString")
            sname = sname if isinstance(sname, str) and sname else f"step{index + 1}"
            path = f"steps.{index}"
            pref = key if self.chain_key else ""

            def ps(field_name: str, k: str, _p: str = path, _s: dict = sdoc, _n: str = sname,
                   _pref: str = pref) -> Any:
                return self.per_step(f"{_p}.{field_name}", k, _pref, _s, _n)

            arch = ps("scram_arch", "ScramArch")
            input_key = "InputStep" if self.chain_key == "Step" else "InputTask"
            self.origin[f"{path}.name"] = f"{pref}.{self.chain_key}Name" if pref else "RequestString"
            steps.append({
                "name": sname,
                "index": index,
                "cmssw_version": ps("cmssw_version", "CMSSWVersion"),
                "scram_arch": [arch] if isinstance(arch, str) else (arch or []),
                "global_tag": ps("global_tag", "GlobalTag"),
                "config_cache_id": ps("config_cache_id", "ConfigCacheID"),
                "multicore": ps("multicore", "Multicore") or 1,
                "memory_mb": self.step_only(f"{path}.memory_mb", "Memory", pref, sdoc, sname),
                "event_streams": ps("event_streams", "EventStreams") or 0,
                "input_step": sdoc.get(input_key) if self.chain_key else None,
                "input_module": sdoc.get("InputFromOutputModule") if self.chain_key else None,
                "keep_output": sdoc.get("KeepOutput", True) if self.chain_key else True,
                "mc_pileup": ps("mc_pileup", "MCPileup"),
                "data_pileup": ps("data_pileup", "DataPileup"),
                "primary_dataset": ps("primary_dataset", "PrimaryDataset"),
                "acquisition_era": ps("acquisition_era", "AcquisitionEra"),
                "processing_string": ps("processing_string", "ProcessingString"),
                "output_tiers": ps("output_tiers", "WMS2OutputTiers") or [],
                "payload": dict(sdoc) if self.chain_key else {},
            })
        return steps

    def first_step_doc(self) -> tuple[str, dict[str, Any]]:
        docs = self.step_docs()
        return docs[0] if docs else ("<top>", self.doc)

    def first(self, spec_path: str, key: str, default: Any = None) -> Any:
        """From Step1/Task1 for chains, else top level."""
        skey, sdoc = self.first_step_doc()
        if self.chain_key and key in sdoc:
            self.origin[spec_path] = f"{skey}.{key}"
            return sdoc[key]
        return self.take(spec_path, key, default)

    def lumi_mask(self) -> dict[str, Any]:
        mask = self.first("lumi_mask", "LumiList", {}) or {}
        if not isinstance(mask, dict):
            return mask
        return {run: ranges for run, ranges in mask.items()}

    def splitting(self, input_dataset: Any, time_per_event: Any) -> dict[str, Any]:
        algo = self.first("splitting.algo", "SplittingAlgo")
        if input_dataset is None:
            algo = None  # generation from scratch: EventBased over generated events
        elif algo is None:
            algo = "EventAwareLumiBased"
        events_per_job = self.first("splitting.events_per_job", "EventsPerJob")
        if events_per_job is None and isinstance(time_per_event, (int, float)) and time_per_event > 0:
            events_per_job = self._automatic_events_per_job(float(time_per_event))
        return {
            "algo": algo,
            "events_per_job": events_per_job,
            "lumis_per_job": self.first("splitting.lumis_per_job", "LumisPerJob", 8),
            "files_per_job": self.first("splitting.files_per_job", "FilesPerJob", 1),
            "events_per_lumi": self.first("splitting.events_per_lumi", "EventsPerLumi"),
            "request_num_events": self.first("splitting.request_num_events", "RequestNumEvents"),
            "filter_efficiency": self.first("splitting.filter_efficiency", "FilterEfficiency", 1.0),
            "first_event": self.first("splitting.first_event", "FirstEvent", 1) or 1,
            "first_lumi": self.first("splitting.first_lumi", "FirstLumi", 1) or 1,
        }

    def _automatic_events_per_job(self, time_per_event: float) -> int:
        """WMCore-like automatic EventBased splitting: fill the target wall time."""
        budget = self.policy.target_wall_time_s - self.policy.wall_time_overhead_s
        events = max(1, int(budget / time_per_event))
        step = self.policy.events_per_job_rounding
        return max(1, events // step * step) if events >= step else events


def _output_datasets(spec_in: dict[str, Any], doc: dict[str, Any], origin: dict[str, str]) -> list[dict]:
    """OutputDatasets from the document, or derived from the naming rule for templates."""
    steps = spec_in["steps"]
    given = doc.get("OutputDatasets")
    origin["output_datasets"] = "OutputDatasets"
    version = spec_in["processing_version"]
    if isinstance(given, list) and given:
        result = []
        for name in given:
            step = _step_for_dataset(name, steps)
            tier = name.rsplit("/", 1)[-1] if isinstance(name, str) else ""
            result.append({"name": name, "step": step, "tier": tier})
        return result
    result = []
    generation = spec_in["input_dataset"] is None
    input_primary = spec_in["input_dataset"].split("/")[1] if isinstance(spec_in["input_dataset"], str) else None
    for i, step in enumerate(steps):
        if not step["keep_output"] and i != len(steps) - 1:
            continue
        primary = step["primary_dataset"] or doc.get("PrimaryDataset") or input_primary
        era, proc = step["acquisition_era"], step["processing_string"]
        if not (primary and era and proc):
            continue
        tiers = step["output_tiers"] or [_default_tier(i, generation)]
        for tier in tiers:
            result.append({"name": f"/{primary}/{era}-{proc}-v{version}/{tier}", "step": step["name"], "tier": tier})
    return result


def _default_tier(index: int, generation: bool) -> str:
    """Documented fallback when the document names no tiers (the PSet would say; we do not read it)."""
    if generation:
        return "GEN-SIM" if index == 0 else "AODSIM"
    return "AOD"


def _step_for_dataset(name: Any, steps: list[dict]) -> str:
    if isinstance(name, str) and name.count("/") == 3:
        processed = name.split("/")[2]
        for step in reversed(steps):
            era, proc = step.get("acquisition_era"), step.get("processing_string")
            if era and proc and processed.startswith(f"{era}-") and f"{proc}-v" in processed:
                return step["name"]
    return steps[-1]["name"] if steps else "step1"


def _loc_to_field(loc: tuple[Any, ...], origin: dict[str, str]) -> str:
    parts = [str(p) for p in loc]
    for cut in range(len(parts), 0, -1):
        key = ".".join(parts[:cut])
        if key in origin:
            rest = parts[cut:]
            return origin[key] + ("." + ".".join(rest) if rest else "")
    return ".".join(parts) or "<document>"


def import_request(doc: Any, policy: ImportPolicy | None = None, source: str | None = None) -> RequestSpec:
    """Validate a ReqMgr2 document and return the WMS2 request, or raise :class:`RequestImportError`."""
    policy = policy or ImportPolicy()
    flat, template = unwrap_document(doc)
    m = _Mapper(flat, template, policy, source)
    input_dataset = m.first("input_dataset", "InputDataset")
    time_per_event = m.take("resources.time_per_event_s", "TimePerEvent", _DEFAULT_TIME_PER_EVENT)
    spec_in: dict[str, Any] = {
        "name": m.name(),
        "request_type": m.take("request_type", "RequestType", "Unknown"),
        "requestor": m.take("requestor", "Requestor") or policy.default_requestor,
        "requestor_dn": m.take("requestor_dn", "RequestorDN"),
        "group": m.take("group", "Group"),
        "campaign": m.take("campaign", "Campaign"),
        "prep_id": m.take("prep_id", "PrepID"),
        "priority": m.take("priority", "RequestPriority", _DEFAULT_PRIORITY),
        "urgent": m.take("urgent", "WMS2Urgent", False),
        "production_steps": m.take("production_steps", "WMS2ProductionSteps", []) or [],
        "adaptive": m.take("adaptive", "WMS2Adaptive", True),
        "processing_version": m.take("processing_version", "ProcessingVersion", 1),
        "cleanup_policy": m.take("cleanup_policy", "WMS2CleanupPolicy", "keep_until_replaced"),
        "input_dataset": input_dataset,
        "run_whitelist": m.first("run_whitelist", "RunWhitelist", []) or [],
        "run_blacklist": m.first("run_blacklist", "RunBlacklist", []) or [],
        "block_whitelist": m.first("block_whitelist", "BlockWhitelist", []) or [],
        "block_blacklist": m.first("block_blacklist", "BlockBlacklist", []) or [],
        "lumi_mask": m.lumi_mask(),
        "splitting": m.splitting(input_dataset, time_per_event),
        "resources": {
            "memory_mb": m.take("resources.memory_mb", "Memory", _DEFAULT_MEMORY),
            "multicore": m.take("resources.multicore", "Multicore", 1),
            "event_streams": m.take("resources.event_streams", "EventStreams", 0) or 0,
            "time_per_event_s": time_per_event,
            "size_per_event_kb": m.take("resources.size_per_event_kb", "SizePerEvent", _DEFAULT_SIZE_PER_EVENT),
        },
        "site_whitelist": m.take("site_whitelist", "SiteWhitelist", []) or [],
        "site_blacklist": m.take("site_blacklist", "SiteBlacklist", []) or [],
        "custodial_sites": m.take("custodial_sites", "CustodialSites", []) or [],
        "non_custodial_sites": m.take("non_custodial_sites", "NonCustodialSites", []) or [],
        "merged_lfn_base": m.take("merged_lfn_base", "MergedLFNBase", "/store/mc"),
        "unmerged_lfn_base": m.take("unmerged_lfn_base", "UnmergedLFNBase", "/store/unmerged"),
        "max_merge_size": m.take("max_merge_size", "MaxMergeSize"),
        "steps": m.steps(),
        "simulator": m.take("simulator", "WMS2Simulator"),
        "faults": m.take("faults", "WMS2Faults", []) or [],
    }
    _resolve_dict_resources(spec_in, m)
    if m.errors:
        raise RequestImportError(m.errors, source)
    try:
        spec_in["output_datasets"] = _output_datasets(spec_in, flat, m.origin)
    except (TypeError, AttributeError, IndexError) as exc:
        error = FieldError("OutputDatasets", f"cannot derive output datasets: {exc}")
        raise RequestImportError([error], source) from None
    try:
        spec = RequestSpec.model_validate(spec_in)
    except ValidationError as exc:
        errors = [FieldError(_loc_to_field(e["loc"], m.origin), e["msg"]) for e in exc.errors()]
        raise RequestImportError(errors, source) from None
    _policy_checks(spec, policy, source)
    return spec


def _resolve_dict_resources(spec_in: dict[str, Any], m: _Mapper) -> None:
    """``Memory``/``Multicore``/``EventStreams`` may be dicts keyed by step: take the maximum."""
    res = spec_in["resources"]
    for key in ("memory_mb", "multicore", "event_streams"):
        value = res[key]
        if isinstance(value, dict):
            numbers = [v for v in value.values() if isinstance(v, (int, float))]
            res[key] = max(numbers) if numbers else None
    step_cores = [s["multicore"] for s in spec_in["steps"] if isinstance(s["multicore"], int)]
    if m.chain_key and step_cores and isinstance(res["multicore"], int):
        # In chains the job runs with the largest step's cores.
        res["multicore"] = max([res["multicore"], *step_cores])


def _policy_checks(spec: RequestSpec, policy: ImportPolicy, source: str | None) -> None:
    errors: list[FieldError] = []
    per_core = spec.resources.memory_mb / spec.resources.multicore
    if per_core > policy.max_memory_per_core_mb:
        errors.append(FieldError(
            "Memory",
            f"{spec.resources.memory_mb:g} MB over {spec.resources.multicore} cores is {per_core:g} MB/core,"
            f" above the ceiling of {policy.max_memory_per_core_mb:g} MB/core",
        ))
    for step in spec.steps:
        if step.memory_mb is not None and step.memory_mb / step.multicore > policy.max_memory_per_core_mb:
            errors.append(FieldError(f"Memory.{step.name}", "memory per core above the ceiling"))
    if spec.is_generation and spec.splitting.events_per_job is None:
        errors.append(FieldError("EventsPerJob", "needed (or TimePerEvent to derive it)"))
    if errors:
        raise RequestImportError(errors, source)

