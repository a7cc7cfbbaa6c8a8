"""``wms2 demo --source reqmgr2``: the demo's requests flow through a real local ReqMgr2.

The demo starts ReqMgr2 under ``<home>/reqmgr2`` (left running afterwards, so that its answers can be
checked; ``wms2 dev reqmgr2 stop --home <home>/reqmgr2`` stops it) — or uses the ReqMgr2 of another
directory (``--reqmgr2-home DIR``: started when not running, left running, never wiped) —, creates the demo's generation
request as a StepChain and as a TaskChain, approves them and assigns them to the demo's team — as a
requestor and an operator would, with signed front-end headers — and lets WMS2 pull them, run them and
write their statuses back.  Input-dataset samples are left out: ReqMgr2 would look their input up in DBS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from wms2.config import Settings
from wms2.devservices.reqmgr2.couch import CouchSetup
from wms2.devservices.reqmgr2.server import RELEASES, read_state, start, stop
from wms2.services.reqmgr import RequestSourceError
from wms2.services.reqmgr_status import FINAL
from wms2.services.reqmgr_sync_client import ReqMgr2SyncClient

DEMO_TEAM = "wms2-demo"
OPERATOR_DN = "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=wms2demo/CN=Demo Operator"
CONFIG_ID = "wms2demo00000000000000000000gen1"
ARCH = "el8_amd64_gcc11"
ASSIGNMENT = {"SiteWhitelist": ["T2_XX_SiteA", "T1_XX_SiteB"], "AcquisitionEra": "WMS2Demo2026",
              "ProcessingVersion": 1, "Dashboard": "production", "MergedLFNBase": "/store/mc",
              "UnmergedLFNBase": "/store/unmerged"}
# Keys of the WMS2 sample that the assignment sets, or that belong to the chain layout built below.
NOT_CREATE = ("SiteWhitelist", "MergedLFNBase", "UnmergedLFNBase", "StepChain", "Step1", "PrimaryDataset")


def reqmgr2_home(home: Path) -> Path:
    return home / "reqmgr2"


def stop_previous(home: Path) -> None:
    """Stop a ReqMgr2 a previous demo left in ``home`` (before the home is wiped)."""
    if read_state(reqmgr2_home(home)) is not None:
        stop(reqmgr2_home(home))


def _generation_sample() -> dict[str, Any]:
    return dict(json.loads(resources.files("wms2.samples").joinpath("demo_generation.json").read_text()))


def demo_documents(state: dict[str, Any], events: int | None = None) -> list[tuple[dict[str, Any], str]]:
    """(create document, ProcessingString) for a StepChain and a TaskChain built from the demo sample;
    ``events`` replaces the sample's ``RequestNumEvents`` (quick runs)."""
    sample = _generation_sample()
    step = dict(sample["Step1"])
    if events is not None:
        step["RequestNumEvents"] = events
    step.pop("WMS2OutputTiers", None)
    step.update({"ConfigCacheID": CONFIG_ID, "CMSSWVersion": RELEASES[ARCH][0], "ScramArch": [ARCH]})
    # ReqMgr2 refuses arguments it does not know: WMS2's own knobs (WMS2*) stay out.
    base = {k: v for k, v in sample.items() if k not in NOT_CREATE and not k.startswith("WMS2")}
    base.update({"CMSSWVersion": RELEASES[ARCH][0], "ScramArch": [ARCH], "GlobalTag": step["GlobalTag"],
                 "DbsUrl": state["dbs_url"], "ConfigCacheUrl": state["couch_url"],
                 "CouchDBName": "reqmgr_config_cache"})
    stepchain = {**base, "RequestType": "StepChain", "RequestString": "DemoGen_StepChain", "StepChain": 1,
                 "Step1": step}
    task = {k: v for k, v in step.items() if k != "StepName"}
    taskchain = {**base, "RequestType": "TaskChain", "RequestString": "DemoGen_TaskChain", "TaskChain": 1,
                 "Task1": {**task, "TaskName": "GENSIM"}}
    return [(stepchain, "GEN_StepChain"), (taskchain, "GEN_TaskChain")]


@dataclass
class ReqMgr2Feed:
    """The demo's request source: a running ReqMgr2 and the requests created in it."""

    state: dict[str, Any]
    names: list[str] = field(default_factory=list)
    events: int | None = None  # the requests' RequestNumEvents (default: the sample's)

    @classmethod
    def start(cls, home: Path, server_home: Path | None = None, events: int | None = None) -> ReqMgr2Feed:
        """Start (or find running) the ReqMgr2 of ``server_home`` (default ``<home>/reqmgr2``)."""
        return cls(start(server_home or reqmgr2_home(home)), events=events)

    def settings_overrides(self, sections: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The demo's settings plus the ``[reqmgr2]`` section, and the sample's simulator hints as the
        planning defaults (ReqMgr2 refuses the sample's ``WMS2Simulator`` argument)."""
        hints = _generation_sample().get("WMS2Simulator", {})
        planning = {**sections.get("planning", {}),
                    "simulator_cpu_seconds_per_event": hints.get("cpu_seconds_per_event", 0.0002),
                    "simulator_memory_mb": hints.get("memory_mb", 150),
                    "simulator_size_per_event_kb": hints.get("size_per_event_kb", 2)}
        reqmgr2 = {"url": self.state["data_url"], "teams": [DEMO_TEAM],
                   "frontend_hmac_key_file": self.state["hmac_key_file"], "sync_backoff_s": 1.0,
                   "sync_backoff_max_s": 10.0}
        return {**sections, "planning": planning, "reqmgr2": reqmgr2}

    def _operator(self, settings: Settings) -> ReqMgr2SyncClient:
        cfg = settings.reqmgr2.model_copy(update={"agent_dn": OPERATOR_DN})
        return ReqMgr2SyncClient(cfg)

    def submit(self, settings: Settings) -> list[str]:
        """Create, approve and assign the demo requests in ReqMgr2; WMS2 pulls them from there."""
        CouchSetup(self.state["couch_url"], Path()).put_document("reqmgr_config_cache", {
            "_id": CONFIG_ID, "owner": {"user": "demo", "group": "DATAOPS"}, "md5_hash": CONFIG_ID,
            "pset_tweak_details": {"process": {"outputModules_": ["RAWSIMoutput"],
                                               "RAWSIMoutput": {"dataset": {"dataTier": "GEN-SIM",
                                                                            "filterName": ""}}}}})
        client = self._operator(settings)
        try:
            for doc, processing in demo_documents(self.state, self.events):
                name = client.create(doc)
                client.set_status(name, "assignment-approved")
                client.update(name, {"RequestStatus": "assigned", "Team": DEMO_TEAM,
                                     "ProcessingString": processing, **ASSIGNMENT})
                self.names.append(name)
        finally:
            client.close()
        return list(self.names)

    def statuses(self, settings: Settings) -> dict[str, str | None]:
        client = ReqMgr2SyncClient(settings.reqmgr2)
        found: dict[str, str | None] = {}
        try:
            for name in self.names:
                try:
                    found[name] = str(client.get(name).get("RequestStatus"))
                except RequestSourceError:
                    found[name] = None
        finally:
            client.close()
        return found

    def settled(self, settings: Settings) -> bool:
        return all(s in FINAL for s in self.statuses(settings).values())

    def summary(self, settings: Settings) -> dict[str, Any]:
        return {"url": self.state["url"], "home": self.state["home"], "team": DEMO_TEAM,
                "statuses": self.statuses(settings)}
