"""Helpers for the live ReqMgr2 tests: WMCore's own client as requestor/operator, request documents,
and a WMS2 home wired to the local ReqMgr2."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from wms2.config import ReqMgr2Settings, Settings
from wms2.core.demo import prepare
from wms2.core.lifecycle import LifecycleManager
from wms2.core.service import init_home
from wms2.core.wiring import build_workers
from wms2.db.session import Database
from wms2.devservices.reqmgr2.couch import CouchSetup
from wms2.services.reqmgr_sync_client import ReqMgr2SyncClient, frontend_headers

WMCORE_CLIENT = Path(__file__).with_name("wmcore_client.py")
OPERATOR_DN = "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=wms2test/CN=000000/CN=Test Operator"
OUR_TEAM = "wms2-test"
OTHER_TEAM = "wmagent-production"
SITES = ["T2_XX_SiteA", "T1_XX_SiteB"]  # the demo's local sites (wms2.core.demo.DEMO_SITES)
RELEASE, ARCH = "CMSSW_13_0_0", "el8_amd64_gcc11"
# ReqMgr2 refuses WMS2's own request arguments (WMS2Simulator): the simulator defaults come from settings.
# As tests/e2e: a cycle at the latest every 0.5 s, the pool daemon polls its stop file every 50 ms.
DRIVER: dict[str, dict[str, Any]] = {"lifecycle": {"cycle_seconds": 0.5}, "engine": {"server_poll_s": 0.05}}
FAST_SIMULATOR = {"simulator_cpu_seconds_per_event": 0.0002, "simulator_memory_mb": 150,
                  "simulator_size_per_event_kb": 2}


def operator_headers(state: dict[str, Any]) -> dict[str, str]:
    key = Path(state["hmac_key_file"]).read_bytes()
    return frontend_headers(key, OPERATOR_DN, "wms2test", {"admin": ["reqmgr"]})


def wmcore(state: dict[str, Any], action: str, **order: Any) -> dict[str, Any]:
    """One call of WMCore's ``ReqMgr`` client, run by the ReqMgr2 venv's Python."""
    body = {"url": state["url"], "headers": operator_headers(state), "action": action,
            **order}
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
           "X509_USER_CERT": state["cert_file"], "X509_USER_KEY": state["key_file"]}  # WMCore insists on a pair
    result = subprocess.run([state["python"], str(WMCORE_CLIENT)], input=json.dumps(body), capture_output=True,
                            text=True, timeout=120, check=False, env=env)
    if result.returncode != 0:
        raise AssertionError(f"WMCore client {action} failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def reqmgr_doc(state: dict[str, Any], name: str) -> dict[str, Any]:
    answer = httpx.get(f"{state['data_url']}/request", params={"name": name, "_nostale": "true"},
                       headers={"Accept": "application/json"}, timeout=30)
    answer.raise_for_status()
    return dict(answer.json()["result"][0][name])


def transitions(state: dict[str, Any], name: str) -> list[str]:
    return [t["Status"] for t in reqmgr_doc(state, name)["RequestTransition"]]


def put_config(state: dict[str, Any], config_id: str, module: str, tier: str) -> None:
    """A ConfigCache document with the output module ReqMgr2 reads the data tier from."""
    CouchSetup(state["couch_url"], Path()).put_document("reqmgr_config_cache", {
        "_id": config_id, "owner": {"user": "wms2test", "group": "DATAOPS"}, "md5_hash": config_id,
        "pset_tweak_details": {"process": {"outputModules_": [module],
                                           module: {"dataset": {"dataTier": tier, "filterName": ""}}}}})


def _common(state: dict[str, Any], string: str, events: int) -> dict[str, Any]:
    return {"RequestString": string, "Requestor": "wms2test", "Group": "DATAOPS", "Campaign": "WMS2Live2026",
            "PrepID": f"WMS2-{string}", "RequestPriority": 500000, "CMSSWVersion": RELEASE, "ScramArch": [ARCH],
            "GlobalTag": "130X_mcRun3_2023_realistic_v1", "Memory": 2000, "Multicore": 1, "TimePerEvent": 0.004,
            "SizePerEvent": 2, "DbsUrl": state["dbs_url"], "ConfigCacheUrl": state["couch_url"],
            "CouchDBName": "reqmgr_config_cache", "AcquisitionEra": "WMS2Live2026", "ProcessingString": string,
            "ProcessingVersion": 1, "_events": events}


def stepchain(state: dict[str, Any], string: str, events: int = 400) -> dict[str, Any]:
    put_config(state, "wms2live0000000000000000000000sc", "RAWSIMoutput", "GEN-SIM")
    doc = _common(state, string, events)
    doc.pop("_events")
    doc.update({"RequestType": "StepChain", "StepChain": 1, "Step1": {
        "StepName": "GENSIM", "ConfigCacheID": "wms2live0000000000000000000000sc",
        "PrimaryDataset": "WMS2LiveMinBias", "RequestNumEvents": events, "EventsPerJob": 200,
        "EventsPerLumi": 100, "SplittingAlgo": "EventBased", "Seeding": "AutomaticSeeding",
        "GlobalTag": "130X_mcRun3_2023_realistic_v1"}})
    return doc


def taskchain(state: dict[str, Any], string: str, events: int = 400) -> dict[str, Any]:
    put_config(state, "wms2live0000000000000000000000tc", "RAWSIMoutput", "GEN-SIM")
    doc = _common(state, string, events)
    doc.pop("_events")
    doc.update({"RequestType": "TaskChain", "TaskChain": 1, "Task1": {
        "TaskName": "GENSIM", "ConfigCacheID": "wms2live0000000000000000000000tc",
        "PrimaryDataset": "WMS2LiveMinBias", "RequestNumEvents": events, "EventsPerJob": 200,
        "EventsPerLumi": 100, "SplittingAlgo": "EventBased", "Seeding": "AutomaticSeeding",
        "GlobalTag": "130X_mcRun3_2023_realistic_v1"}})
    return doc


def assignment(team: str, processing: str) -> dict[str, Any]:
    return {"Team": team, "SiteWhitelist": SITES, "AcquisitionEra": "WMS2Live2026",
            "ProcessingString": processing, "ProcessingVersion": 1, "Dashboard": "production",
            "MergedLFNBase": "/store/mc", "UnmergedLFNBase": "/store/unmerged"}


def create_and_assign(state: dict[str, Any], doc: dict[str, Any], team: str, processing: str) -> str:
    """Create with WMCore's client, approve, assign to ``team`` (as an operator would)."""
    return assign_all(state, [(doc, team, processing)])[0]


def assign_all(state: dict[str, Any], orders: list[tuple[dict[str, Any], str, str]]) -> list[str]:
    """Several (document, team, ProcessingString) at once, with one WMCore client process."""
    docs = [{"doc": doc, "assignment": assignment(team, processing)} for doc, team, processing in orders]
    return [str(n) for n in wmcore(state, "assign", docs=docs)["names"]]


def operator_client(state: dict[str, Any]) -> ReqMgr2SyncClient:
    """An operator's writes from the test process itself (cheaper than WMCore's client where the
    acceptance does not ask for it): signed front-end headers with the operator's DN."""
    return ReqMgr2SyncClient(ReqMgr2Settings(url=state["data_url"], agent_dn=OPERATOR_DN,
                                             frontend_hmac_key_file=Path(state["hmac_key_file"]),
                                             frontend_roles={"admin": ["reqmgr"]}))


def create_assign_fast(state: dict[str, Any], doc: dict[str, Any], team: str, processing: str) -> str:
    """Create, approve and assign through the REST API from this process (no WMCore client)."""
    client = operator_client(state)
    try:
        name = client.create(doc)
        client.set_status(name, "assignment-approved")
        client.update(name, {"RequestStatus": "assigned", **assignment(team, processing)})
    finally:
        client.close()
    return name


def wms2_home(home: Path, state: dict[str, Any], **reqmgr2: Any) -> tuple[Settings, Database]:
    # pilot_fraction 1: a small request is done in its first DAG (fast tests; adaptivity is tested elsewhere)
    settings = prepare(home, reset=True, overrides={**DRIVER, "planning": {"pilot_fraction": 1.0, **FAST_SIMULATOR},
                                                    "reqmgr2": {
        "url": state["data_url"], "teams": [OUR_TEAM], "frontend_hmac_key_file": state["hmac_key_file"],
        "sync_backoff_s": 0.5, "sync_backoff_max_s": 2.0, "sync_timeout_s": 5.0, **reqmgr2}})
    return settings, init_home(settings)


def run_until(manager: LifecycleManager, done: Callable[[], bool], timeout_s: float, pause_s: float = 0.3) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        report = manager.run_cycle()
        assert not [e for e in report.errors if not e["request"].startswith("<")], report.errors
        if done():
            return
        time.sleep(pause_s)
    raise AssertionError(f"not done within {timeout_s} s")


def lifecycle(settings: Settings, db: Database) -> LifecycleManager:
    return LifecycleManager(db, settings, build_workers(settings, db))
