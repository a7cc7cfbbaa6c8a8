"""The progress properties an agent may write to ReqMgr2: the global WorkQueue's request totals.

What the real ReqMgr2 (WMCore, PyPI ``reqmgr2`` 2.4.5.9) accepts from a non-human writer, read from its code:

- ``ReqMgr/DataStructs/RequestStatus.py``: ``ALLOWED_STAT_KEYS = ['total_jobs', 'input_lumis',
  'input_events', 'input_num_files']``, accepted in every status; the other properties a PUT may change
  after assignment are ``RequestPriority`` and the site lists (operator knobs, never progress).
- ``ReqMgr/Service/Request.py`` ``_handleNoStatusUpdate``: a PUT whose arguments are exactly those four
  keys is stored by the ``totalstats`` update function of the ReqMgr couchapp as ``TotalEstimatedJobs``,
  ``TotalInputEvents``, ``TotalInputLumis`` and ``TotalInputFiles``, **added** to the values already there
  (the global WorkQueue writes them per work-queue element when it splits a request).
- Nothing else of an agent's progress lives in ReqMgr2: processed events, job counts per state and
  output sizes go to WMStats (the agents' own CouchDB documents), which ReqMgr2 only reads.

WMS2 does the global WorkQueue's job for its teams, so it writes the totals once, when it takes a request
(ReqMgr2 ``acquired``), and never when the document already has them (the update function adds).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from wms2.domain.enums import SplittingAlgo
from wms2.domain.request import RequestSpec

# The ReqMgr2 document fields the four PUT arguments end in (ReqMgr couchapp ``updates/totalstats.js``).
STORED_AS = {"total_jobs": "TotalEstimatedJobs", "input_events": "TotalInputEvents",
             "input_lumis": "TotalInputLumis", "input_num_files": "TotalInputFiles"}


@dataclass(frozen=True)
class InputTotals:
    """What the request reads: its selected input files (none for generation)."""

    files: int = 0
    events: int = 0
    lumis: int = 0


@dataclass(frozen=True)
class ProgressTotals:
    total_jobs: int
    input_events: int
    input_lumis: int
    input_num_files: int

    def as_put(self) -> dict[str, int]:
        """The PUT body's arguments (exactly the four keys, or ReqMgr2 treats it as another update)."""
        return asdict(self)


def _ceil_div(a: int | float, b: int | float) -> int:
    return math.ceil(a / b) if b > 0 else 0


def progress_totals(spec: RequestSpec, inputs: InputTotals) -> ProgressTotals:
    """The totals the global WorkQueue would write for this request, from WMS2's validated spec.

    Generation: the events to generate (``RequestNumEvents`` over the filter efficiency), their lumis
    (``EventsPerLumi``) and jobs (``EventsPerJob``).  Input data: the selected files, their events and lumis;
    jobs by the splitting algorithm (files, lumis or events per job)."""
    sp = spec.splitting
    if spec.input_dataset is None:
        events = math.ceil((sp.request_num_events or 0) / sp.filter_efficiency)
        lumis = _ceil_div(events, sp.events_per_lumi or sp.events_per_job or events or 1)
        jobs = _ceil_div(events, sp.events_per_job or events or 1)
        return ProgressTotals(total_jobs=jobs, input_events=events, input_lumis=lumis, input_num_files=0)
    if sp.algo == SplittingAlgo.FileBased:
        jobs = _ceil_div(inputs.files, sp.files_per_job)
    elif sp.algo == SplittingAlgo.LumiBased:
        jobs = _ceil_div(inputs.lumis, sp.lumis_per_job)
    else:
        jobs = _ceil_div(inputs.events, sp.events_per_job or inputs.events or 1)
    return ProgressTotals(total_jobs=jobs, input_events=inputs.events, input_lumis=inputs.lumis,
                          input_num_files=inputs.files)
