"""Live sync with ReqMgr2: the per-cycle worker the Lifecycle Manager calls (design §4, invariant 4).

**Pull.** For every team in ``reqmgr2.teams``, ask ReqMgr2 for the team's requests in the statuses WMS2
owns (``assigned`` ... ``running-closed``, ``force-complete``) and in the stop orders (``aborted``,
``rejected``).  A request not seen before and ``assigned`` is imported through the validated import
(:func:`wms2.core.workflow_manager.submit_documents`); a request seen before is never imported again
(``reqmgr_sync`` row).  Changes made in ReqMgr2 after the import — abort/reject, ``RequestPriority``,
``SiteWhitelist``/``SiteBlacklist`` — are applied through :mod:`wms2.core.actions`, the same code the
operator API uses.  Other teams' requests are never asked for, so never touched (they are WMAgent's).

**Push (reconciliation).** For every imported request, compare the ReqMgr2 status that mirrors WMS2's
status (:func:`wms2.services.reqmgr_status.target_status`) with the last status ReqMgr2 is known to hold,
and walk ReqMgr2's chain forward one PUT per step.  Every write lands in the request's audit trail with
ReqMgr2's answer.  A failed write backs off (``sync_backoff_s``, doubling up to ``sync_backoff_max_s``);
a refused one re-reads ReqMgr2's status and raises an alert (401/403: ``reqmgr2-write-refused``); a
``failed`` ReqMgr2 refused once ends the request ``aborted -> aborted-completed`` instead; nothing is ever
written backwards.  When the walk reaches ``acquired`` the global WorkQueue's totals are written once
(:mod:`wms2.services.reqmgr_progress`, the only progress properties ReqMgr2 takes from an agent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from wms2.config import Settings
from wms2.core import actions
from wms2.core.alerts import raise_alert
from wms2.core.workers import SessionSource
from wms2.core.workflow_manager import submit_documents
from wms2.db.reqmgr_tables import ReqMgrSyncRow
from wms2.db.session import Database
from wms2.db.tables import DagRow, InputFileRow, RequestRow, WorkflowRow
from wms2.domain.enums import TERMINAL_REQUEST_STATUSES, InputFileState, RequestStatus
from wms2.domain.reqmgr import RequestImportError
from wms2.domain.request import RequestSpec
from wms2.engines.base import Engine
from wms2.services.reqmgr import RequestSourceError, RequestSourceRefused
from wms2.services.reqmgr_progress import STORED_AS, InputTotals, progress_totals
from wms2.services.reqmgr_status import (
    FINAL,
    OWNED,
    RANK,
    STOP_ORDERS,
    TAKEN,
    fallback_target,
    is_behind,
    path,
    target_status,
)
from wms2.services.reqmgr_sync_client import ReqMgr2SyncClient, TransitionRefused

log = logging.getLogger(__name__)

BY = "reqmgr2-sync"
HISTORY_KEPT = 100  # writes kept per request in reqmgr_sync.history
PULLED = (*OWNED, "aborted", "rejected")
APPLIED_KEYS = ("RequestPriority", "SiteWhitelist", "SiteBlacklist")
RUN_DAG_STATES = ("submitted", "running", "completed", "partial", "failed", "removed", "halted", "stopped")


def _audit(row: RequestRow, reason: str, now: datetime) -> None:
    status = str(row.status)
    row.status_transitions = [*row.status_transitions,
                              {"from": status, "to": status, "at": now.isoformat(), "by": BY, "reason": reason}]


class ReqMgrSync:
    """The ``reqmgr2`` cycle task.  Holds no request state between cycles except the pull back-off."""

    name = "reqmgr2-sync"

    def __init__(self, settings: Settings, engine: Engine | None = None,
                 client_factory: Callable[[], ReqMgr2SyncClient] | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.client_factory = client_factory or (lambda: ReqMgr2SyncClient(settings.reqmgr2))
        self.pull_failures = 0
        self.pull_not_before: datetime | None = None

    # -- the cycle ----------------------------------------------------------------------------------
    def run_cycle(self, db: SessionSource, settings: Settings, now: datetime) -> None:
        if not settings.reqmgr2.teams:
            return
        if self.pull_not_before is not None and now < self.pull_not_before:
            return
        client = self.client_factory()
        try:
            try:
                pulled = {team: client.requests(PULLED, team) for team in settings.reqmgr2.teams}
            except RequestSourceError as exc:
                self._pull_failed(db, now, exc)
                return
            self.pull_failures, self.pull_not_before = 0, None
            for team, docs in pulled.items():
                for name, doc in sorted(docs.items()):
                    self._pull_one(db, team, name, doc, now)
            self._push_all(db, client, {n: d for docs in pulled.values() for n, d in docs.items()}, now)
        finally:
            client.close()

    def _backoff(self, failures: int) -> timedelta:
        cfg = self.settings.reqmgr2
        return timedelta(seconds=min(cfg.sync_backoff_s * 2 ** max(failures - 1, 0), cfg.sync_backoff_max_s))

    def _pull_failed(self, db: SessionSource, now: datetime, exc: RequestSourceError) -> None:
        self.pull_failures += 1
        self.pull_not_before = now + self._backoff(self.pull_failures)
        log.warning("reqmgr2 sync: pull failed (%d in a row): %s", self.pull_failures, exc.message)
        with db.session() as session:
            raise_alert(session, kind="reqmgr2-unreachable", now=now,
                        reason=f"cannot read ReqMgr2 ({self.pull_failures} failure(s) in a row; WMS2 keeps"
                               f" working and catches up when it answers): {exc.message}",
                        repeat_after_s=self.settings.lifecycle.alert_repeat_seconds)

    # -- pull -----------------------------------------------------------------------------------------
    def _pull_one(self, db: SessionSource, team: str, name: str, doc: dict[str, Any], now: datetime) -> None:
        status = str(doc.get("RequestStatus", ""))
        abort = False
        with db.session() as session:
            sync = session.scalar(select(ReqMgrSyncRow).where(ReqMgrSyncRow.request_name == name))
            if sync is None:
                if status == "assigned":
                    self._import(session, team, name, doc, now)
                return
            if not sync.imported or sync.finished:
                return
            if is_behind(sync.reqmgr_status, status) or status in STOP_ORDERS:
                sync.reqmgr_status = status
            request = session.scalar(select(RequestRow).where(RequestRow.name == name))
            if request is None or RequestStatus(request.status) in TERMINAL_REQUEST_STATUSES:
                return
            abort = status in STOP_ORDERS
            if not abort:
                self._apply_changes(session, sync, request, doc, now)
        if abort:
            self._abort(db, name, status, doc, now)

    def _import(self, session: Session, team: str, name: str, doc: dict[str, Any], now: datetime) -> None:
        applied = {k: doc.get(k) for k in APPLIED_KEYS}
        sync = ReqMgrSyncRow(request_name=name, team=team, reqmgr_status="assigned", imported=True,
                             applied=applied, history=[], attempts=0, finished=False)
        existing = session.scalar(select(RequestRow).where(RequestRow.name == name))
        if existing is None:
            try:  # validation raises before anything is stored
                submit_documents(session, [(name, doc)], self.settings, by=BY)
            except RequestImportError as exc:
                sync.imported, sync.import_error, sync.finished = False, str(exc), True
                raise_alert(session, kind="reqmgr2-import-refused", now=now, request_name=name,
                            reason=f"ReqMgr2 request {name} (team {team}) was not imported: {exc}",
                            repeat_after_s=self.settings.lifecycle.alert_repeat_seconds)
        session.add(sync)
        log.info("reqmgr2 sync: %s from team %s %s", name, team,
                 "imported" if sync.imported else f"refused: {sync.import_error}")

    def _abort(self, db: SessionSource, name: str, status: str, doc: dict[str, Any], now: datetime) -> None:
        """ReqMgr2 says stop: abort through the operator action (removes the live DAG, fails open blocks)."""
        who = _last_dn(doc) or "ReqMgr2"
        engine = self.engine
        try:
            with db.session() as session:
                actions.abort(session, name, by=f"reqmgr2:{who}", reason=f"ReqMgr2 status is {status}",
                              engine=(lambda: engine) if engine is not None else None, now=now)
        except actions.ActionError as exc:  # planning right now, or the engine is unreachable: next cycle
            log.warning("reqmgr2 sync: abort of %s postponed: %s", name, exc)

    def _apply_changes(self, session: Session, sync: ReqMgrSyncRow, request: RequestRow, doc: dict[str, Any],
                       now: datetime) -> None:
        applied = dict(sync.applied)
        priority = doc.get("RequestPriority")
        if isinstance(priority, int) and priority != applied.get("RequestPriority"):
            try:  # validation raises before anything changes
                actions.update_request(session, request.name, by=BY, reason="RequestPriority changed in ReqMgr2",
                                       priority=priority, now=now)
            except actions.ActionError as exc:
                log.warning("reqmgr2 sync: priority of %s not applied: %s", request.name, exc)
            else:
                _keep_in_document(request, {"RequestPriority": priority})
            applied["RequestPriority"] = priority
        sites = {k: doc.get(k) for k in ("SiteWhitelist", "SiteBlacklist")}
        if any(sites[k] != applied.get(k) for k in sites):
            self._apply_sites(request, sites, now)
            applied.update(sites)
        sync.applied = applied

    def _apply_sites(self, request: RequestRow, sites: dict[str, Any], now: datetime) -> None:
        """New site lists apply to every DAG planned from now on (the live DAG keeps its own)."""
        update = {"site_whitelist": sites["SiteWhitelist"] or [], "site_blacklist": sites["SiteBlacklist"] or []}
        try:
            spec = RequestSpec.model_validate({**request.spec, **update})
        except ValidationError as exc:
            _audit(request, f"ReqMgr2 site lists not applied: {exc.errors()[0]['msg']}", now)
            return
        request.spec = {**request.spec, "site_whitelist": list(spec.site_whitelist),
                        "site_blacklist": list(spec.site_blacklist)}
        _keep_in_document(request, {"SiteWhitelist": update["site_whitelist"],
                                    "SiteBlacklist": update["site_blacklist"]})
        _audit(request, f"site lists from ReqMgr2: whitelist {update['site_whitelist']},"
                        f" blacklist {update['site_blacklist']}", now)

    # -- push -----------------------------------------------------------------------------------------
    def _push_all(self, db: SessionSource, client: ReqMgr2SyncClient, docs: dict[str, dict[str, Any]],
                  now: datetime) -> None:
        with db.session() as session:
            ids = list(session.scalars(select(ReqMgrSyncRow.id).where(
                ReqMgrSyncRow.imported.is_(True), ReqMgrSyncRow.finished.is_(False))))
        for sync_id in ids:
            with db.session() as session:
                sync = session.get(ReqMgrSyncRow, sync_id)
                if sync is None or (sync.next_attempt_at is not None and now < sync.next_attempt_at):
                    continue
                if not self._push_one(session, client, sync, now):
                    return  # ReqMgr2 is unreachable: the other requests wait for the next cycle too
                if not self._push_totals(session, client, sync, docs.get(sync.request_name), now):
                    return

    def _push_one(self, session: Session, client: ReqMgr2SyncClient, sync: ReqMgrSyncRow, now: datetime) -> bool:
        """Walk ReqMgr2 forward for one request; False when ReqMgr2 did not answer."""
        request = session.scalar(select(RequestRow).where(RequestRow.name == sync.request_name))
        if request is None:
            sync.finished = True
            return True
        status = RequestStatus(request.status)
        target = fallback_target(sync.reqmgr_status, target_status(status, _had_dag(session, request),
                                                                    request.adaptive))
        if target == "failed" and _refused_before(sync, "failed"):
            target = "aborted-completed"  # ReqMgr2 refused `failed` once: end the request the other way
        terminal = status in TERMINAL_REQUEST_STATUSES
        if sync.reqmgr_status in FINAL or not is_behind(sync.reqmgr_status, target):
            sync.finished = terminal and (sync.reqmgr_status in FINAL or sync.reqmgr_status == target)
            return True
        steps = path(sync.reqmgr_status, target)
        if steps is None:
            raise_alert(session, kind="reqmgr2-no-path", now=now, request_name=request.name, status=str(status),
                        reason=f"no agent transition leads ReqMgr2 from {sync.reqmgr_status} to {target}",
                        repeat_after_s=self.settings.lifecycle.alert_repeat_seconds)
            return True
        for step in steps:
            if not self._write(session, client, sync, request, step, now):
                return sync.last_error is None or not sync.last_error.startswith("unreachable")
        sync.finished = terminal and sync.reqmgr_status in FINAL
        return True

    def _write(self, session: Session, client: ReqMgr2SyncClient, sync: ReqMgrSyncRow, request: RequestRow,
               step: str, now: datetime) -> bool:
        before = sync.reqmgr_status
        try:
            answer = client.set_status(sync.request_name, step)
        except TransitionRefused as exc:
            self._refused(session, client, sync, request, step, exc, now)
            return False
        except RequestSourceRefused as exc:  # 401/403: our credential or role; ReqMgr2 itself answers
            self._forbidden(session, sync, request, f"status {before} -> {step}", exc, now)
            return False
        except RequestSourceError as exc:
            self._failed(sync, f"unreachable: {exc.message}", now)
            return False
        sync.reqmgr_status = sync.written_status = step
        sync.attempts, sync.next_attempt_at, sync.last_error = 0, None, None
        self._record(sync, request, before, step, f"HTTP {answer.status} {answer.answer}", now)
        session.flush()
        return True

    def _refused(self, session: Session, client: ReqMgr2SyncClient, sync: ReqMgrSyncRow, request: RequestRow,
                 step: str, exc: TransitionRefused, now: datetime) -> None:
        """Re-read ReqMgr2's status: someone else may have moved it (then it is not an error)."""
        before = sync.reqmgr_status
        self._record(sync, request, before, step, f"refused: HTTP {exc.status} {exc.answer}", now)
        try:
            actual = str(client.get(sync.request_name).get("RequestStatus", before))
        except RequestSourceError as read_exc:
            self._failed(sync, f"unreachable: {read_exc.message}", now)
            return
        if actual != before:
            sync.reqmgr_status = actual  # resynchronised; the next cycle walks on from there
            sync.last_error = None
            return
        self._failed(sync, f"refused: {exc.message}", now)
        raise_alert(session, kind="reqmgr2-transition-refused", now=now, request_name=request.name,
                    status=str(request.status), detail={"from": before, "to": step, "answer": exc.answer},
                    reason=f"ReqMgr2 refused {before} -> {step} for {request.name}: {exc.answer}",
                    repeat_after_s=self.settings.lifecycle.alert_repeat_seconds)

    def _forbidden(self, session: Session, sync: ReqMgrSyncRow, request: RequestRow, what: str,
                   exc: RequestSourceRefused, now: datetime) -> None:
        """ReqMgr2 refuses our writes (HTTP 401/403): an alert for the operator, retried after back-off."""
        self._failed(sync, f"refused: {exc.message}", now)
        raise_alert(session, kind="reqmgr2-write-refused", now=now, request_name=request.name,
                    status=str(request.status), detail={"write": what},
                    reason=f"ReqMgr2 refused the write ({what}) for {request.name}: {exc.message}",
                    repeat_after_s=self.settings.lifecycle.alert_repeat_seconds)

    # -- progress totals -------------------------------------------------------------------------------
    def _push_totals(self, session: Session, client: ReqMgr2SyncClient, sync: ReqMgrSyncRow,
                     doc: dict[str, Any] | None, now: datetime) -> bool:
        """Once the request is taken (``acquired`` or later on the main chain), write the global WorkQueue's
        totals (:mod:`wms2.services.reqmgr_progress`) unless written before or already in the document.
        False when ReqMgr2 did not answer."""
        if not (RANK[TAKEN] <= RANK.get(sync.reqmgr_status, -1) < RANK["completed"]):
            return True
        if any("fields" in h for h in sync.history) or (doc is not None and any(
                doc.get(stored) for stored in STORED_AS.values())):
            return True
        request = session.scalar(select(RequestRow).where(RequestRow.name == sync.request_name))
        if request is None:
            return True
        totals = progress_totals(RequestSpec.model_validate(request.spec), _input_totals(session, request))
        fields = totals.as_put()
        status = sync.reqmgr_status
        try:
            answer = client.update(sync.request_name, fields)
        except (TransitionRefused, RequestSourceRefused) as exc:
            note = f"refused: {exc.message}"
            self._record(sync, request, status, status, note, now, fields)
            raise_alert(session, kind="reqmgr2-write-refused", now=now, request_name=request.name,
                        status=str(request.status), detail={"write": "totals", "fields": fields},
                        reason=f"ReqMgr2 refused the progress totals {fields} for {request.name}: {exc.message}",
                        repeat_after_s=self.settings.lifecycle.alert_repeat_seconds)
            return True
        except RequestSourceError as exc:
            self._failed(sync, f"unreachable: {exc.message}", now)
            return False
        self._record(sync, request, status, status, f"HTTP {answer.status} {answer.answer}", now, fields)
        session.flush()
        return True

    def _failed(self, sync: ReqMgrSyncRow, error: str, now: datetime) -> None:
        sync.attempts += 1
        sync.last_error = error
        sync.next_attempt_at = now + self._backoff(sync.attempts)

    def _record(self, sync: ReqMgrSyncRow, request: RequestRow, before: str, step: str, answer: str,
                now: datetime, fields: dict[str, Any] | None = None) -> None:
        entry: dict[str, Any] = {"at": now.isoformat(), "from": before, "to": step, "answer": answer}
        if fields is not None:
            entry["fields"] = fields
        sync.history = [*sync.history, entry][-HISTORY_KEPT:]
        what = f"progress totals {fields}" if fields is not None else f"status {before} -> {step}"
        _audit(request, f"ReqMgr2 {what}: {answer}", now)


def _had_dag(session: Session, request: RequestRow) -> bool:
    workflow_id = session.scalar(select(WorkflowRow.id).where(WorkflowRow.request_id == request.id))
    if workflow_id is None:
        return False
    return session.scalar(select(DagRow.id).where(DagRow.workflow_id == workflow_id,
                                                  DagRow.status.in_(RUN_DAG_STATES)).limit(1)) is not None


def _keep_in_document(request: RequestRow, values: dict[str, Any]) -> None:
    """The stored ReqMgr2 document follows ReqMgr2: a request still ``submitted`` is validated again from
    it (``workflow_manager.revalidate``), which must not undo a change applied from ReqMgr2."""
    request.document = {**request.document, **values}


def _refused_before(sync: ReqMgrSyncRow, step: str) -> bool:
    return any(h.get("to") == step and "fields" not in h and str(h.get("answer", "")).startswith("refused")
               for h in sync.history)


def _input_totals(session: Session, request: RequestRow) -> InputTotals:
    """The request's selected input files (excluded ones left out); zero for generation."""
    workflow_id = session.scalar(select(WorkflowRow.id).where(WorkflowRow.request_id == request.id))
    if workflow_id is None:
        return InputTotals()
    files = list(session.scalars(select(InputFileRow).where(InputFileRow.workflow_id == workflow_id,
                                                            InputFileRow.state != InputFileState.excluded)))
    return InputTotals(files=len(files), events=sum(f.events for f in files),
                       lumis=sum(len(lumis) for f in files for lumis in f.lumis.values()))


def _last_dn(doc: dict[str, Any]) -> str | None:
    transitions = doc.get("RequestTransition")
    if isinstance(transitions, list) and transitions and isinstance(transitions[-1], dict):
        dn = transitions[-1].get("DN")
        return str(dn) if dn else None
    return None


VIEW_STATUSES = (*PULLED, "completed", "aborted-completed", "failed", "closed-out", "announced")


def source_view(db: Database, settings: Settings,
                client_factory: Callable[[], ReqMgr2SyncClient] | None = None) -> list[dict[str, Any]]:
    """What ReqMgr2 holds for the teams this WMS2 serves, and what WMS2 did with each request
    (``wms2 requests --source reqmgr2``).  Raises :class:`RequestSourceError` when ReqMgr2 does not answer."""
    client = (client_factory or (lambda: ReqMgr2SyncClient(settings.reqmgr2)))()
    try:
        held = {team: client.requests(VIEW_STATUSES, team) for team in settings.reqmgr2.teams}
    finally:
        client.close()
    rows: list[dict[str, Any]] = []
    with db.session() as session:
        for team, docs in held.items():
            for name, doc in sorted(docs.items()):
                sync = session.scalar(select(ReqMgrSyncRow).where(ReqMgrSyncRow.request_name == name))
                request = session.scalar(select(RequestRow).where(RequestRow.name == name))
                rows.append({
                    "name": name, "team": team, "reqmgr2_status": doc.get("RequestStatus"),
                    "wms2_status": str(request.status) if request is not None else None,
                    "imported": bool(sync and sync.imported),
                    "written_status": sync.written_status if sync else None,
                    "import_error": sync.import_error if sync else None,
                    "last_error": sync.last_error if sync else None,
                    "last_write": sync.history[-1] if sync and sync.history else None,
                })
    return rows
