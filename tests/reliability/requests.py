"""The small simulator requests of a chaos run: generation, each writing its own output dataset,
adaptive and not in turn (an adaptive one runs one DAG per round, so several submissions per request)."""

from __future__ import annotations

import copy
from typing import Any

from wms2.core.demo import load_samples


def chaos_requests(run: int, wave: int, count: int, events: int, events_per_job: int) -> list[dict[str, Any]]:
    """``count`` requests of wave ``wave`` (a run submits a new wave when every request has ended
    before the last fault)."""
    base = load_samples()[0][1]
    docs = []
    for i in range(count):
        doc = copy.deepcopy(base)
        name = f"chaos_r{run}_w{wave}_g{i}"
        doc["RequestName"] = name
        doc["ProcessingString"] = doc["Step1"]["ProcessingString"] = f"GEN_{name}"
        doc["Step1"]["RequestNumEvents"] = events
        doc["Step1"]["EventsPerJob"] = events_per_job
        doc["WMS2Adaptive"] = i % 2 == 0
        docs.append(doc)
    return docs
