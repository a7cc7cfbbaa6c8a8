"""The hostile-document corpus: ONE table, run through ``wms2 submit`` and ``POST /api/v1/requests``.

Each case is a base document (a small MonteCarlo request or the StepChain fixture) with a change, or a
raw body.  Both paths must refuse it, name ``field`` (any of the alternatives) in the error, and store
nothing.  The base documents themselves are accepted (``test_base_documents_are_accepted``), so a case
fails only because of its change.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The whole document is at fault: the CLI names it "<document>", FastAPI's body parsing "body".
WHOLE = ("<document>", "body")


def mc_base() -> dict[str, Any]:
    return {
        "RequestName": "hostile_base", "RequestType": "MonteCarlo", "RequestPriority": 90000,
        "RequestNumEvents": 100_000, "EventsPerJob": 1000, "Memory": 2000, "Multicore": 1,
        "TimePerEvent": 1.0, "SizePerEvent": 10.0, "PrimaryDataset": "HostilePrimary",
        "AcquisitionEra": "HostileEra", "ProcessingString": "Base", "ProcessingVersion": 1,
        "CMSSWVersion": "CMSSW_14_0_0", "ScramArch": "el9_amd64_gcc12", "Requestor": "operator",
    }


def stepchain_base(fixtures_dir: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((fixtures_dir / "reqmgr2" / "StepChainRequestDump.json").read_text())
    doc["RequestName"] = "hostile_chain"
    doc["Requestor"] = "operator"
    return doc


def rereco_base() -> dict[str, Any]:
    return {**mc_base(), "RequestName": "hostile_rereco", "RequestType": "ReReco",
            "InputDataset": "/HostilePrimary/Run2024A-v1/RAW", "SplittingAlgo": "LumiBased", "LumisPerJob": 3}


@dataclass(frozen=True)
class Hostile:
    id: str
    fields: tuple[str, ...]  # the error must name one of these (substring of an error's field)
    changes: dict[str, Any] = field(default_factory=dict)  # "Step1.Key" reaches into the chain
    base: str = "mc"  # mc | chain | rereco
    raw: str | None = None  # the body as text (JSON-level hostility); overrides base/changes
    api_status: tuple[int, ...] = (422,)


def _deep(depth: int) -> str:
    return '{"RequestName": "deep", "x": ' + "[" * depth + "]" * depth + "}"


CASES: list[Hostile] = [
    # issue 12 defect 3: '.', '..' and empty segments in LFN bases and dataset names (they become paths)
    Hostile("merged_lfn_base_dotdot", ("MergedLFNBase",), {"MergedLFNBase": "/store/../../etc"}),
    Hostile("unmerged_lfn_base_dot", ("UnmergedLFNBase",), {"UnmergedLFNBase": "/store/unmerged/./x"}),
    Hostile("lfn_base_empty_segment", ("MergedLFNBase",), {"MergedLFNBase": "/store//mc"}),
    Hostile("lfn_base_trailing_dotdot", ("MergedLFNBase",), {"MergedLFNBase": "/store/mc/.."}),
    Hostile("lfn_base_outside_store", ("MergedLFNBase",), {"MergedLFNBase": "/etc/passwd"}),
    Hostile("output_dataset_dotdot", ("OutputDatasets",), {"OutputDatasets": ["/../HostileEra-Base-v1/GEN-SIM"]}),
    Hostile("input_dataset_dotdot", ("InputDataset",), {"InputDataset": "/../x/RAW"}, base="rereco"),
    Hostile("primary_dataset_dotdot", ("OutputDatasets", "PrimaryDataset"), {"PrimaryDataset": ".."}),
    Hostile("fault_lfn_dotdot", ("WMS2Faults",), {"WMS2Faults": [{"bad_input_lfn": "/store/../etc/passwd"}]}),
    Hostile("fault_site_classad", ("WMS2Faults",), {"WMS2Faults": [{"only_at_site": 'T2_CH_CERN")||true||("'}]}),
    Hostile("fault_node_traversal", ("WMS2Faults",), {"WMS2Faults": [{"nodes": ["../../x"]}]}),
    # names and values that reach directories, DAG lines, submit descriptions, ClassAds
    Hostile("name_traversal", ("RequestName",), {"RequestName": "../../etc/x"}),
    Hostile("name_newline", ("RequestName",), {"RequestName": "evil\nJOB x x.sub"}),
    Hostile("name_hidden", ("RequestName",), {"RequestName": ".hidden"}),
    Hostile("name_too_long", ("RequestName",), {"RequestName": "a" * 300}),
    Hostile("processing_string_dollar", ("ProcessingString",), {"ProcessingString": "x$(whoami)"}),
    Hostile("acquisition_era_slash", ("AcquisitionEra",), {"AcquisitionEra": "Era/../x"}),
    Hostile("cmssw_shell", ("CMSSWVersion",), {"CMSSWVersion": "CMSSW_14_0_0; rm -rf /"}),
    Hostile("scram_arch_quote", ("ScramArch",), {"ScramArch": 'el9"'}),
    Hostile("global_tag_newline", ("GlobalTag",), {"GlobalTag": "GT\nqueue 1000"}),
    Hostile("site_whitelist_classad", ("SiteWhitelist",), {"SiteWhitelist": ['T2_CH_CERN")||true||("']}),
    Hostile("site_blacklist_newline", ("SiteBlacklist",), {"SiteBlacklist": ["T2_CH_CERN\nrequirements = true"]}),
    Hostile("campaign_dollar", ("Campaign",), {"Campaign": "$(x)"}),
    Hostile("block_whitelist_backtick", ("BlockWhitelist",), {"BlockWhitelist": ["`id`"]}, base="rereco"),
    Hostile("chain_processing_string", ("Step2.ProcessingString",), {"Step2.ProcessingString": "a'b"}, base="chain"),
    Hostile("chain_step_name", ("Step1.StepName",), {"Step1.StepName": "../up"}, base="chain"),
    # issue 12 defect 4: impossible sizes are refused at submission, naming the field and the limit
    Hostile("jobs_absurd", ("EventsPerJob",), {"RequestNumEvents": 10**9, "EventsPerJob": 1}),
    Hostile("dag_too_big", ("EventsPerJob",), {"RequestNumEvents": 10**8, "EventsPerJob": 100, "WMS2Adaptive": False}),
    Hostile("chain_jobs_absurd", ("Step1.EventsPerJob",), {"Step1.RequestNumEvents": 10**9, "Step1.EventsPerJob": 1},
            base="chain"),
    Hostile("first_event_overflow", ("FirstEvent",), {"FirstEvent": 2**63}),
    Hostile("first_lumi_overflow", ("FirstLumi",), {"FirstLumi": 2**32 - 5}),
    Hostile("memory_absurd", ("Memory",), {"Memory": 10**9}),
    Hostile("multicore_zero", ("Multicore",), {"Multicore": 0}),
    Hostile("multicore_huge", ("Multicore",), {"Multicore": 10**20}),
    Hostile("priority_negative", ("RequestPriority",), {"RequestPriority": -1}),
    Hostile("priority_text", ("RequestPriority",), {"RequestPriority": "high"}),
    Hostile("events_text", ("RequestNumEvents",), {"RequestNumEvents": "1e9"}),
    Hostile("lumi_mask_reversed", ("LumiList",), {"LumiList": {"1": [[5, 2]]}}, base="rereco"),
    Hostile("template_assign_lfn", ("MergedLFNBase",),
            {"@template": {"assignRequest": {"MergedLFNBase": "/store/../x"}}}),
    # values no database can store, wherever they hide (the opaque payload too)
    Hostile("nul_opaque", ("Comments",), {"Comments": "a\x00b"}),
    Hostile("nan_time_per_event", ("TimePerEvent",), raw='{"@mc": true, "TimePerEvent": NaN}'),
    Hostile("infinity_opaque", ("Opaque",), raw='{"@mc": true, "Opaque": {"x": Infinity}}'),
    # JSON-level hostility
    Hostile("not_an_object", WHOLE, raw="[1, 2, 3]"),
    Hostile("not_json", WHOLE, raw="{not json"),
    Hostile("deep_nesting", WHOLE, raw=_deep(100_000)),
    Hostile("too_large", WHOLE, raw='{"RequestName": "big", "x": "' + "a" * (6 * 1024 * 1024) + '"}',
            api_status=(413,)),
]


def _apply(doc: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    for key, value in changes.items():
        if key == "@template":
            doc = {"createRequest": doc, **value}
            continue
        if "." in key:
            step, sub = key.split(".", 1)
            doc[step][sub] = value
        else:
            doc[key] = value
    return doc


def base_document(kind: str, fixtures_dir: Path) -> dict[str, Any]:
    if kind == "chain":
        return stepchain_base(fixtures_dir)
    return rereco_base() if kind == "rereco" else mc_base()


def body(case: Hostile, fixtures_dir: Path) -> str:
    """The case as the JSON text a requestor would send."""
    if case.raw is not None:
        if case.raw.startswith('{"@mc": true, '):
            base = json.dumps(mc_base())
            return base[:-1] + ", " + case.raw[len('{"@mc": true, '):]
        return case.raw
    doc = _apply(copy.deepcopy(base_document(case.base, fixtures_dir)), case.changes)
    return json.dumps(doc)


def named(errors: list[dict[str, str]], case: Hostile) -> bool:
    return any(want in e.get("field", "") for e in errors for want in case.fields)
