"""``HTCondorEngine``: DAGMan jobs on real HTCondor schedds through the ``htcondor2`` bindings."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from wms2.config import EngineSettings
from wms2.engines.base import (
    DagExitInfo,
    DagJobInfo,
    Engine,
    EngineError,
    JobUnknown,
    ScheddUnreachable,
    SubmitOptions,
    SubmitResult,
)
from wms2.engines.htcondor.ads import (
    HISTORY_PROJECTION,
    JOB_STATUS_COMPLETED,
    JOB_STATUS_REMOVED,
    QUERY_PROJECTION,
    dagman_job_constraint,
    exit_info_from_history_ad,
    job_info_from_history_ad,
    job_info_from_queue_ad,
)
from wms2.engines.htcondor.bindings import CondorPool
from wms2.engines.htcondor.from_dag import FromDagRunner
from wms2.engines.htcondor.policy import (
    ACTIVE_DAGMAN_CONSTRAINT,
    COUNT_PROJECTION,
    SCHEDD_JOB_ATTRIBUTES,
    RoundRobin,
)
from wms2.engines.placement import ScheddCaps, ScheddLoad, place_dag

log = logging.getLogger(__name__)

# A ClassAd attribute name usable in ``My.<name> = value`` (SubmitOptions.extra_attributes).
_BATCH_NAME = re.compile(r"^[A-Za-z0-9_.-]+\Z")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
# A constraint that matches nothing: used by ``ping`` to make the schedd answer a trivial query.
_PING_CONSTRAINT = "false"


class HTCondorEngine(Engine):
    """The production engine.  ``pool`` and ``from_dag`` may be injected (tests use a fake of the
    bindings inside a real :class:`CondorPool`)."""

    name = "htcondor"

    def __init__(
        self,
        settings: EngineSettings,
        pool: CondorPool | None = None,
        from_dag: FromDagRunner | None = None,
    ) -> None:
        self._settings = settings
        self._pool = pool if pool is not None else CondorPool(settings.collector)
        self._from_dag = from_dag or FromDagRunner(
            dagman_path=settings.dagman_path, timeout_s=settings.from_dag_timeout_s
        )
        self._round_robin = RoundRobin()

    # Schedd choice -------------------------------------------------------------------------------
    def schedd_names(self) -> list[str]:
        """The configured schedds, or all schedds the collector knows when none is configured."""
        names = list(self._settings.schedds) or self._pool.schedd_names()
        if not names:
            collector = self._settings.collector or "(local HTCondor configuration)"
            raise ScheddUnreachable(f"collector {collector} lists no schedd")
        return names

    def count_active_dags(self, schedd: str) -> int:
        """Active top-level DAGMan jobs on ``schedd`` (see :mod:`.policy`)."""
        return len(self._pool.query(schedd, ACTIVE_DAGMAN_CONSTRAINT, COUNT_PROJECTION))

    def caps(self) -> ScheddCaps:
        return ScheddCaps(self._settings.schedd_max_dags, self._settings.schedd_max_jobs)

    def job_totals(self) -> dict[str, int]:
        """Running + idle jobs per schedd, from the collector's schedd ads; {} when the collector does
        not answer (placement then goes by DAG counts alone, logged)."""
        try:
            ads = self._pool.schedd_ads(list(SCHEDD_JOB_ATTRIBUTES))
        except ScheddUnreachable as exc:
            log.warning("schedd job totals unknown, placing by DAG counts only: %s", exc)
            return {}
        totals: dict[str, int] = {}
        for name, ad in ads.items():
            values = [ad.get(attr) for attr in SCHEDD_JOB_ATTRIBUTES]
            totals[name] = sum(v for v in values if isinstance(v, int) and not isinstance(v, bool))
        return totals

    def schedd_loads(self) -> tuple[list[ScheddLoad], dict[str, str]]:
        """The load of every schedd that answers (configured order), and why the others did not."""
        names = self.schedd_names()
        jobs = self.job_totals()
        loads: list[ScheddLoad] = []
        unreachable: dict[str, str] = {}
        for name in names:
            try:
                loads.append(ScheddLoad(name, self.count_active_dags(name), jobs.get(name, 0)))
            except ScheddUnreachable as exc:
                log.warning("schedd %s left out of the placement: %s", name, exc)
                unreachable[name] = str(exc)
        return loads, unreachable

    def choose_schedd(self) -> str:
        caps = self.caps()
        if self._settings.schedd_policy == "round_robin":
            if caps == ScheddCaps():
                return self._round_robin(self.schedd_names(), self.ping)
            loads, unreachable = self.schedd_loads()
            by_name = {load.name: load for load in loads}
            try:
                return self._round_robin(list(by_name) + list(unreachable),
                                         lambda name: name in by_name and caps.admits(by_name[name]))
            except ScheddUnreachable:
                place_dag(loads, caps, unreachable)  # raises the precise error: none answered, or all full
                raise
        loads, unreachable = self.schedd_loads()
        return place_dag(loads, caps, unreachable)

    # Engine interface ----------------------------------------------------------------------------
    def submit_dag(self, dag_file: Path, options: SubmitOptions) -> SubmitResult:
        for attr in options.extra_attributes:
            if not _ATTRIBUTE_NAME.match(attr):
                raise ValueError(f"SubmitOptions.extra_attributes: {attr!r} is not a ClassAd attribute name")
        dag = Path(dag_file).resolve()
        description = self._from_dag.run(dag, options)
        schedd = self.choose_schedd()
        cluster = self._pool.submit(schedd, description, dag.parent, options.extra_attributes)
        log.info("submitted %s to %s as DAGMan job %d", dag, schedd, cluster)
        return SubmitResult(cluster_id=cluster, schedd=schedd)

    def find_submitted(self, batch_name: str) -> SubmitResult | None:
        """The DAGMan job (scheduler universe) named ``batch_name``, in the queue or in the history of any
        configured schedd."""
        if not _BATCH_NAME.match(batch_name):
            raise ValueError(f"batch name {batch_name!r}: only letters, digits and '_.-' are allowed")
        constraint = f'JobBatchName == "{batch_name}" && JobUniverse == 7'
        for schedd in self.schedd_names():
            ads = self._pool.query(schedd, constraint, ["ClusterId"])
            ads = ads or self._pool.history(schedd, constraint, ["ClusterId"], match=1)
            if ads:
                return SubmitResult(cluster_id=max(int(ad["ClusterId"]) for ad in ads), schedd=schedd)
        return None

    def _queue_ad(self, cluster_id: int, schedd: str, projection: list[str]) -> dict[str, Any] | None:
        ads = self._pool.query(schedd, dagman_job_constraint(cluster_id), projection, limit=1)
        return ads[0] if ads else None

    def _history_ad(self, cluster_id: int, schedd: str) -> dict[str, Any] | None:
        ads = self._pool.history(schedd, dagman_job_constraint(cluster_id), HISTORY_PROJECTION, match=1)
        return ads[0] if ads else None

    def query(self, cluster_id: int, schedd: str) -> DagJobInfo:
        ad = self._queue_ad(cluster_id, schedd, QUERY_PROJECTION)
        if ad is not None:
            return job_info_from_queue_ad(ad, cluster_id, schedd)
        hist = self._history_ad(cluster_id, schedd)
        if hist is not None:
            return job_info_from_history_ad(hist, cluster_id, schedd)
        raise JobUnknown(_unknown(cluster_id, schedd))

    def exit_info(self, cluster_id: int, schedd: str) -> DagExitInfo:
        hist = self._history_ad(cluster_id, schedd)
        if hist is not None:
            return exit_info_from_history_ad(hist, cluster_id, schedd)
        ad = self._queue_ad(cluster_id, schedd, HISTORY_PROJECTION)
        if ad is None:
            raise JobUnknown(_unknown(cluster_id, schedd))
        if ad.get("JobStatus") in (JOB_STATUS_REMOVED, JOB_STATUS_COMPLETED):
            # Finished but not yet moved to the history (e.g. leave_in_queue).
            return exit_info_from_history_ad(ad, cluster_id, schedd)
        raise EngineError(
            f"DAGMan job {cluster_id}.0 on {schedd} is still in the queue (JobStatus {ad.get('JobStatus')}): "
            "no exit information yet"
        )

    def remove(self, cluster_id: int, schedd: str, reason: str) -> None:
        self._act("Remove", cluster_id, schedd, reason)

    def hold(self, cluster_id: int, schedd: str, reason: str) -> None:
        self._act("Hold", cluster_id, schedd, reason)

    def release(self, cluster_id: int, schedd: str) -> None:
        self._act("Release", cluster_id, schedd, None)

    def ping(self, schedd: str) -> bool:
        try:
            self._pool.query(schedd, _PING_CONSTRAINT, COUNT_PROJECTION, limit=1)
        except ScheddUnreachable as exc:
            log.info("ping %s: %s", schedd, exc)
            return False
        return True

    # Actions -------------------------------------------------------------------------------------
    def _act(self, action: str, cluster_id: int, schedd: str, reason: str | None) -> None:
        spec = f"{int(cluster_id)}.0"
        try:
            result = self._pool.act(schedd, action, spec, reason)
        except ScheddUnreachable as exc:
            # The bindings raise one exception type for "no answer" and for a refused action (e.g. no such
            # job): a queue query tells them apart.
            ad = self._queue_ad(cluster_id, schedd, ["JobStatus"])  # raises ScheddUnreachable if down
            if ad is not None:
                raise EngineError(f"{action.lower()} of {spec} on {schedd} refused: {exc}") from exc
            self._not_in_queue(action, cluster_id, schedd)
            return
        if _check_act_result(action, spec, schedd, result):
            self._not_in_queue(action, cluster_id, schedd)

    def _not_in_queue(self, action: str, cluster_id: int, schedd: str) -> None:
        """The job is not in the queue: a remove of a finished job is a no-op, anything else is unknown."""
        in_history = self._history_ad(cluster_id, schedd) is not None
        if in_history and action == "Remove":
            log.info("remove %d.0 on %s: already left the queue", cluster_id, schedd)
            return
        if in_history:
            raise JobUnknown(f"{action.lower()}: DAGMan job {cluster_id}.0 has left the queue of {schedd}")
        raise JobUnknown(f"{action.lower()}: {_unknown(cluster_id, schedd)}")


def _unknown(cluster_id: int, schedd: str) -> str:
    return f"DAGMan job {cluster_id}.0 is neither in the queue nor in the history of {schedd}"


def _check_act_result(action: str, spec: str, schedd: str, result: dict[str, Any]) -> bool:
    """Interpret the ``Schedd.act`` result ad (``Total*`` counters, reference §6.2).

    Returns True when the schedd did not find the job; raises on a refusal; False when done.
    """

    def total(name: str) -> int:
        value = result.get(name, 0)
        return value if isinstance(value, int) else 0

    if total("TotalSuccess") or total("TotalAlreadyDone"):
        return False
    if total("TotalPermissionDenied"):
        raise EngineError(f"{action.lower()} of {spec} on {schedd}: permission denied")
    if total("TotalNotFound"):
        return True
    if total("TotalBadStatus"):
        # e.g. release of a job that is not held: the wanted state already holds.
        log.info("%s of %s on %s: job not in a state for it (no-op)", action.lower(), spec, schedd)
        return False
    raise EngineError(f"{action.lower()} of {spec} on {schedd} failed: {result}")
