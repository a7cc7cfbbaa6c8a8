"""A fake of the ``htcondor2`` bindings for the HTCondor engine tests: fake daemons, real ClassAds.

``FakeHTCondor`` has the module surface :class:`wms2.engines.htcondor.bindings.CondorPool` uses
(``Collector``, ``Schedd``, ``Submit``, ``DaemonType``, ``AdType``, ``JobAction``,
``SubmitMethod``, ``HTCondorException``).  ``Submit`` and all ClassAds are the real ``htcondor2``/``classad2`` objects
(they work offline, reference §6.1); only the collector and schedds are simulated.  Behaviour copied
from the real bindings (reference §6):

- an unreachable daemon raises ``HTCondorException`` (collector: "Failed communication with
  collector."; schedd: CEDAR:6001 connect failure), as do ``locate`` of an unknown schedd name;
- ``Schedd.act`` drops a plain ``str`` reason (only ``None`` and ``(text, code)`` tuples are used) and
  returns an ad with ``TotalSuccess``, ``TotalNotFound``, ``TotalBadStatus``, ``TotalAlreadyDone``...;
- the DAGMan job ad carries the attributes of reference §4.6 (``JobUniverse = 7``,
  ``OtherJobRemoveRequirements``, ``JobBatchName``, ``DAG_*`` counters).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import classad2
import htcondor2

DEFAULT_ACTION_REASON = "Python-initiated action"  # htcondor2/_schedd.py default


class HTCondorException(Exception):
    """Stands for ``htcondor2.HTCondorException``."""


class DaemonType(enum.IntEnum):
    Schedd = 3


class AdType(enum.IntEnum):
    Schedd = 1


class JobAction(enum.IntEnum):
    Hold = 1
    Release = 2
    Remove = 3


class SubmitMethod(enum.IntEnum):
    HTCondorDagSubmit = 4


@dataclass
class FakeScheddState:
    name: str
    address: str
    up: bool = True
    next_cluster: int = 1
    queue: list[classad2.ClassAd] = field(default_factory=list)
    history: list[classad2.ClassAd] = field(default_factory=list)  # newest first, like condor_history
    submitted: list[htcondor2.Submit] = field(default_factory=list)
    # The real bindings may raise instead of reporting TotalNotFound; switchable to test both paths.
    act_not_found_raises: bool = False


@dataclass
class Call:
    target: str
    method: str
    args: tuple[Any, ...]


class FakeSubmitResult:
    def __init__(self, cluster: int) -> None:
        self._cluster = cluster

    def cluster(self) -> int:
        return self._cluster


def _matches(constraint: str, ad: classad2.ClassAd) -> bool:
    return classad2.ExprTree(constraint).eval(ad) is True


def _project(ad: classad2.ClassAd, projection: list[str]) -> classad2.ClassAd:
    if not projection:
        return classad2.ClassAd(ad.printOld())
    out = classad2.ClassAd()
    for name in projection:
        if name in ad:
            out[name] = ad.lookup(name)
    return out


class FakeHTCondor:
    """One fake pool: a collector and named schedds."""

    Submit = htcondor2.Submit
    HTCondorException = HTCondorException
    DaemonType = DaemonType
    AdType = AdType
    JobAction = JobAction
    SubmitMethod = SubmitMethod

    def __init__(self, schedds: list[str] | None = None, collector_address: str = "cm.example:9618") -> None:
        self.collector_address = collector_address
        self.collector_up = True
        self.schedds: dict[str, FakeScheddState] = {}
        self.calls: list[Call] = []
        for name in schedds or []:
            self.add_schedd(name)

    # Scenario helpers ---------------------------------------------------------------------------
    def add_schedd(self, name: str) -> FakeScheddState:
        state = FakeScheddState(name=name, address=f"<10.0.0.{len(self.schedds) + 1}:9618?sock={name}>")
        self.schedds[name] = state
        return state

    def add_job(self, schedd: str, **attrs: Any) -> int:
        """Queue a job with the given attributes; returns its cluster id."""
        state = self.schedds[schedd]
        cluster = state.next_cluster
        state.next_cluster += 1
        ad = classad2.ClassAd({"ClusterId": cluster, "ProcId": 0, "JobStatus": 1, **attrs})
        state.queue.append(ad)
        return cluster

    def add_dagman(self, schedd: str, **attrs: Any) -> int:
        """Queue a top-level DAGMan job ad as ``from_dag`` + submit would create it."""
        defaults: dict[str, Any] = {
            "JobUniverse": 7,
            "IsDaemonCore": True,
            "JobBatchName": "x.dag+1",
        }
        cluster = self.add_job(schedd, **{**defaults, **attrs})
        self.job(schedd, cluster)["OtherJobRemoveRequirements"] = f"DAGManJobId =?= {cluster}"
        return cluster

    def job(self, schedd: str, cluster: int) -> classad2.ClassAd:
        for ad in self.schedds[schedd].queue:
            if ad["ClusterId"] == cluster:
                return ad
        raise KeyError(cluster)

    def finish(self, schedd: str, cluster: int, **attrs: Any) -> None:
        """Move a job from the queue to the history, updating ``attrs`` (e.g. ExitCode, JobStatus)."""
        state = self.schedds[schedd]
        ad = self.job(schedd, cluster)
        state.queue.remove(ad)
        ad.update({"JobStatus": 4, **attrs})
        state.history.insert(0, ad)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    # Module surface -----------------------------------------------------------------------------
    def Collector(self, pool: Any = None, security: Any = None) -> FakeCollector:
        return FakeCollector(self, pool)

    def Schedd(self, location: classad2.ClassAd | None = None) -> FakeSchedd:
        if location is None:
            raise HTCondorException("Unable to locate local daemon.")
        return FakeSchedd(self, location)


class FakeCollector:
    def __init__(self, fake: FakeHTCondor, pool: Any) -> None:
        self.fake = fake
        self.pool = pool

    def _check(self, method: str, *args: Any) -> None:
        self.fake.calls.append(Call(f"collector:{self.pool}", method, args))
        if not self.fake.collector_up or self.pool not in (None, self.fake.collector_address):
            raise HTCondorException("Failed communication with collector.")

    @staticmethod
    def _location(state: FakeScheddState) -> classad2.ClassAd:
        return classad2.ClassAd(
            {
                "MyType": "Scheduler",
                "Name": state.name,
                "MyAddress": state.address,
                "CondorVersion": "25.14.1",
            }
        )

    def locate(self, daemon_type: DaemonType, name: str | None = None) -> classad2.ClassAd:
        self._check("locate", daemon_type, name)
        if daemon_type != DaemonType.Schedd:
            raise HTCondorException(f"unsupported daemon type {daemon_type}")
        state = self.fake.schedds.get(name) if name else next(iter(self.fake.schedds.values()), None)
        if state is None:
            raise HTCondorException(f"Unable to find daemon {name!r} in the collector.")
        return self._location(state)

    def locateAll(self, daemon_type: DaemonType) -> list[classad2.ClassAd]:
        self._check("locateAll", daemon_type)
        return [self._location(s) for s in self.fake.schedds.values()]

    def query(self, ad_type: AdType, constraint: str | None = None,
              projection: list[str] | None = None) -> list[classad2.ClassAd]:
        """Schedd ads with the job totals a schedd publishes (``TotalRunningJobs``, ``TotalIdleJobs``,
        ``TotalHeldJobs``), counted from its queue; the ads of stopped schedds stay (as in a real
        collector until they expire)."""
        self._check("query", ad_type, constraint, projection)
        if ad_type != AdType.Schedd:
            raise HTCondorException(f"unsupported ad type {ad_type}")
        ads = []
        for state in self.fake.schedds.values():
            ad = self._location(state)
            for attr, status in (("TotalIdleJobs", 1), ("TotalRunningJobs", 2), ("TotalHeldJobs", 5)):
                ad[attr] = sum(1 for job in state.queue if job.get("JobStatus") == status)
            ads.append(_project(ad, projection or []))
        return ads


class FakeSchedd:
    def __init__(self, fake: FakeHTCondor, location: classad2.ClassAd) -> None:
        self.fake = fake
        self.name = location["Name"]
        self.address = location["MyAddress"]

    def _state(self, method: str, *args: Any) -> FakeScheddState:
        self.fake.calls.append(Call(self.name, method, args))
        state = self.fake.schedds.get(self.name)
        if state is None or not state.up or state.address != self.address:
            raise HTCondorException(
                f"Failed to fetch ads from schedd, errmsg=CEDAR:6001:Failed to connect to {self.address}"
            )
        return state

    def query(
        self,
        constraint: str = "True",
        projection: list[str] | None = None,
        callback: Any = None,
        limit: int = -1,
    ) -> list[classad2.ClassAd]:
        state = self._state("query", constraint, projection, limit)
        hits = [_project(ad, projection or []) for ad in state.queue if _matches(constraint, ad)]
        return hits if limit < 0 else hits[:limit]

    def history(
        self,
        constraint: str | None = None,
        projection: list[str] | None = None,
        match: int = -1,
        since: Any = None,
    ) -> list[classad2.ClassAd]:
        state = self._state("history", constraint, projection, match)
        hits = [_project(ad, projection or []) for ad in state.history if _matches(constraint or "true", ad)]
        return hits if match < 0 else hits[:match]

    def act(self, action: JobAction, job_spec: Any, reason: Any = None) -> classad2.ClassAd:
        # Reason handling of htcondor2/_schedd.py: a plain str is silently dropped.
        if reason is None:
            text: str | None = DEFAULT_ACTION_REASON
        elif isinstance(reason, tuple):
            text = reason[0]
        else:
            text = None
        state = self._state("act", action, job_spec, text)
        result = {k: 0 for k in ("TotalSuccess", "TotalNotFound", "TotalBadStatus", "TotalAlreadyDone")}
        cluster, _, proc = str(job_spec).partition(".")
        ad = next((a for a in state.queue if a["ClusterId"] == int(cluster) and a["ProcId"] == int(proc or 0)), None)
        if ad is None:
            if state.act_not_found_raises:
                raise HTCondorException("Error when performing action on the schedd.")
            result["TotalNotFound"] = 1
            return classad2.ClassAd(result)
        result[self._apply(state, ad, action, text)] = 1
        return classad2.ClassAd(result)

    @staticmethod
    def _apply(state: FakeScheddState, ad: classad2.ClassAd, action: JobAction, text: str | None) -> str:
        status = ad["JobStatus"]
        if action == JobAction.Hold:
            if status == 5:
                return "TotalAlreadyDone"
            if status not in (1, 2):
                return "TotalBadStatus"
            ad["JobStatus"] = 5
            ad["HoldReason"] = text or ""
            return "TotalSuccess"
        if action == JobAction.Release:
            if status != 5:
                return "TotalBadStatus"
            ad["JobStatus"] = 1
            del ad["HoldReason"]
            return "TotalSuccess"
        if status == 3:
            return "TotalAlreadyDone"
        ad["JobStatus"] = 3
        ad["RemoveReason"] = text or ""
        return "TotalSuccess"

    def submit(self, description: htcondor2.Submit, count: int = 0, spool: bool = False) -> FakeSubmitResult:
        state = self._state("submit", description)
        state.submitted.append(description)
        cluster = state.next_cluster
        state.next_cluster += 1
        ad = classad2.ClassAd(
            {
                "ClusterId": cluster,
                "ProcId": 0,
                "JobStatus": 1,
                "JobUniverse": 7 if description.get("universe") == "scheduler" else 5,
                "Iwd": description.get("initialdir", ""),
                "Args": description.get("arguments", ""),
                "Cmd": description.get("executable", ""),
                "JobSubmitMethod": int(description.getSubmitMethod()),
            }
        )
        for key in description.keys():  # noqa: SIM118 - Submit is not a dict
            if key.lower().startswith("my."):
                ad[key[3:]] = classad2.ExprTree(description[key].replace("$(cluster)", str(cluster)))
        state.queue.append(ad)
        return FakeSubmitResult(cluster)
