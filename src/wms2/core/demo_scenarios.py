"""Demo scenarios (``wms2 demo --scenario NAME``): the sample requests with faults injected into the
simulator, and the settings and expected outcome of each.

- ``default``: an adaptive generation request and a lumi-masked ReReco; both complete.
- ``faults``: transient failures (rescued), a site failing every job (banned, work moves), a memory
  failure (retried with more memory), a bad input file (excluded); every request completes.
- ``held``: 40 % of the work units fail permanently; the request is ``held`` for an operator.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

FAILING_SITE = "T1_XX_SiteB"
BAD_FILE_INDEX = 2  # the third input file (by LFN) of the demo dataset


@dataclass(frozen=True)
class Scenario:
    name: str
    documents: Callable[[list[str]], list[tuple[str, Any]]]  # input LFNs -> documents
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    expected: dict[str, str] = field(default_factory=dict)  # request -> final status ("" = every one completed)


def sample(name: str) -> dict[str, Any]:
    return json.loads(resources.files("wms2.samples").joinpath(name).read_text())


def _default(_lfns: list[str]) -> list[tuple[str, Any]]:
    return [("demo_generation", sample("demo_generation.json")), ("demo_lumimask", sample("demo_lumimask.json"))]


def _generation(name: str, events: int, per_job: int, adaptive: bool, faults: list[dict[str, Any]]) -> dict[str, Any]:
    doc = copy.deepcopy(sample("demo_generation.json"))
    doc.update(RequestName=name, WMS2Adaptive=adaptive, WMS2Faults=faults, ProcessingString=f"GEN_{name}")
    doc["Step1"].update(RequestNumEvents=events, EventsPerJob=per_job, ProcessingString=f"GEN_{name}")
    return doc


#: Events of the ``faults`` generation requests (100-event jobs, two per WU): five WUs for the transient
#: fault (its WU ``mg_000003`` must exist) and ten for the failing site (so that it surely receives some).
FAULTS_TRANSIENT_EVENTS = 1000
FAULTS_SITE_EVENTS = 2000
FAULTS_SITE_PRIORITY = 700000  # above the sample's 600000


def _faults(lfns: list[str]) -> list[tuple[str, Any]]:
    transient = _generation("faults_transient", FAULTS_TRANSIENT_EVENTS, 100, False,
                            [{"exit_code": 50115, "work_units": ["mg_000003"], "fail_attempts": 2}])
    site = _generation("faults_site", FAULTS_SITE_EVENTS, 100, True,
                       [{"exit_code": 60311, "only_at_site": FAILING_SITE}])
    # Its landing jobs are matched before the other requests' jobs: the pool starts them where most cores
    # are free, so both sites receive some.  At the same priority, the other requests' jobs could fill the
    # good site first and send every WU to the failing one (10 of 10 failed: held, not rescued).
    site["RequestPriority"] = FAULTS_SITE_PRIORITY
    memory = _generation("faults_memory", 400, 100, False, [
        {"memory_blowup_mb": 400, "work_units": ["mg_000000"], "nodes": ["proc_000000"], "fail_attempts": 1}])
    memory.update(Memory=300, Multicore=1)
    data = copy.deepcopy(sample("demo_lumimask.json"))
    data.update(RequestName="faults_badfile", SplittingAlgo="FileBased", FilesPerJob=1, ProcessingString="BadFile",
                WMS2Faults=[{"bad_input_lfn": lfns[BAD_FILE_INDEX]}])
    data.pop("LumiList")
    return [(d["RequestName"], d) for d in (transient, site, memory, data)]


#: Each ``held`` request: 1,000 events in five WUs of two 100-event jobs, two WUs of which fail (40 %).
#: Two jobs per WU, so that one failing job is a *permanent* failure, not a *catastrophic* one (the same
#: exit code on every job of the WU).
HELD_EVENTS = 1000
HELD_WUS = 5
HELD_BAD_WUS = ["mg_000001", "mg_000003"]


def _held(_lfns: list[str]) -> list[tuple[str, Any]]:
    """Two requests whose round 0 loses 40 % of its WUs to a permanent error: one for ``release``
    (the fault is limited to round 0, so the next round succeeds), one for ``fail``."""
    fault = [{"exit_code": 8001, "work_units": HELD_BAD_WUS, "rounds": [0]}]
    return [(n, _generation(n, HELD_EVENTS, 100, False, fault)) for n in ("held_permanent", "held_other")]


_SMALL_WUS = {"jobs_per_work_unit": 2, "merge_group_maxjobs": 10}
SCENARIOS: dict[str, Scenario] = {
    "default": Scenario("default", _default),
    "faults": Scenario("faults", _faults, overrides={
        # Ten WUs from the pilot round on, so that the failing site surely receives some.  One retry per
        # node (not 3): enough for the memory retry, and the transient fault fails both attempts (the WU
        # is rescued); every attempt at the failing site is a whole job, so more retries only cost CPU.
        "planning": {"jobs_per_work_unit": 2, "first_round_work_units": 10, "work_units_per_round": 10,
                     "merge_group_maxjobs": 10, "processing_retries": 1},
        "failures": {"rescue_failure_ratio": 0.95, "bad_file_min_sites": 1},
        "resources": {"default_memory_per_core_mb": 100},
    }),
    "held": Scenario("held", _held, overrides={"planning": _SMALL_WUS},
                     expected={"held_permanent": "held", "held_other": "held"}),
}
