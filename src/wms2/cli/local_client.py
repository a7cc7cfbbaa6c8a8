"""The local implementation of :class:`wms2.cli.client.WmsClient`: the core functions on the database.

Split from :mod:`wms2.cli.client` so that a command imports the core, SQLAlchemy and the API models
only when it talks to the local database (``wms2 --help`` and the remote client do not).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from wms2.api import models
from wms2.cli.client import (
    EXIT_INVALID,
    EXIT_NOT_FOUND,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    ClientError,
    Release,
    all_pages,
    shape,
    whoami,
)
from wms2.config import Settings
from wms2.core import actions, listings
from wms2.db.base import utcnow
from wms2.db.session import Database
from wms2.db.tables import DagRow, WorkflowRow
from wms2.domain.enums import CleanupPolicy, RequestStatus, SiteStatus
from wms2.domain.reqmgr import RequestImportError
from wms2.domain.safety import SITE_RE
from wms2.domain.transitions import IllegalTransition
from wms2.engines.base import Engine, EngineError


@contextmanager
def translated() -> Iterator[None]:
    """Core exceptions as :class:`ClientError` with the command's exit code."""
    from wms2.core.operator import ActionRefused

    try:
        yield
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]} for e in exc.errors()]
        raise ClientError("; ".join(f"{e['field']}: {e['message']}" for e in errors), EXIT_INVALID, errors) from None
    except RequestImportError as exc:
        raise ClientError(str(exc), EXIT_INVALID,
                          [{"field": e.field, "message": e.message} for e in exc.errors]) from None
    except actions.InvalidValue as exc:
        raise ClientError(str(exc), EXIT_INVALID, [{"field": exc.field, "message": exc.message}]) from None
    except (actions.NotFound, KeyError) as exc:
        raise ClientError(str(exc.args[0]) if isinstance(exc, KeyError) else str(exc), EXIT_NOT_FOUND) from None
    except (actions.Conflict, ActionRefused, IllegalTransition) as exc:
        raise ClientError(str(exc), EXIT_REFUSED) from None
    except actions.EngineUnavailable as exc:
        raise ClientError(str(exc), EXIT_UNAVAILABLE) from None
    except EngineError as exc:
        raise ClientError(f"execution engine: {type(exc).__name__}: {exc}", EXIT_UNAVAILABLE) from None


class LocalClient:
    """The core functions on the database named by the settings (who = ``cli:<user>``)."""

    def __init__(self, settings: Settings, db: Database, by: str | None = None) -> None:
        self.settings = settings
        self.db = db
        self.by = by or whoami()
        self._engine: Engine | None = None
        self._sites_synced = False

    # -- plumbing ----------------------------------------------------------------------------------
    @contextmanager
    def _session(self) -> Iterator[Session]:
        with translated(), self.db.session() as session:
            yield session

    def engine(self) -> Engine:
        if self._engine is None:
            from wms2.engines.factory import make_engine

            if self.settings.engine.kind == "local":
                from wms2.engines.local_engine import ensure_pool_running

                ensure_pool_running(self.settings)
            self._engine = make_engine(self.settings)
        return self._engine

    def _operator(self) -> Any:
        from wms2.core.wiring import build_operator

        return build_operator(self.settings, self.engine())

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        self.db.dispose()

    # -- requests ----------------------------------------------------------------------------------
    def submit(self, documents: list[tuple[str, dict[str, Any]]], requestor: str | None) -> list[dict[str, Any]]:
        from wms2.core.workflow_manager import submit_documents

        with self._session() as session:
            results = submit_documents(session, documents, self.settings, by=self.by, requestor=requestor)
            return [{"name": r.name, "created": r.created} for r in results]

    def import_by_name(self, names: Sequence[str], requestor: str | None,
                       documents: Sequence[tuple[str, dict[str, Any]]] = ()) -> list[dict[str, Any]]:
        """Fetch each named request from ReqMgr2 (``reqmgr2`` settings), then submit them with ``documents``
        as one submission: all are stored or none."""
        from wms2.services.reqmgr import ReqMgr2Client, RequestSourceError

        fetched: list[tuple[str, dict[str, Any]]] = []
        try:
            with ReqMgr2Client(self.settings) as source:
                fetched.extend((name, source.fetch(name)) for name in names)
        except RequestSourceError as exc:
            if exc.caller_fault:
                raise ClientError(exc.message, EXIT_INVALID, [{"field": "RequestName", "message": exc.message}]) \
                    from None
            raise ClientError(exc.message, EXIT_UNAVAILABLE) from None
        return self.submit([*documents, *fetched], requestor)

    def requests(self, status: RequestStatus | None, campaign: str | None,
                 requestor: str | None) -> list[dict[str, Any]]:
        with self._session() as session:
            items = all_pages(lambda limit, offset: listings.list_requests(session, limit, offset, status,
                                                                           campaign, requestor))
        return shape(list[models.RequestSummary], items)

    def show(self, name: str) -> dict[str, Any]:
        from wms2.core.views import request_detail

        with self._session() as session:
            return shape(models.RequestDetail, request_detail(session, actions.get_request(session, name)))

    def errors(self, name: str) -> dict[str, Any]:
        from wms2.core.errors import error_summary

        with self._session() as session:
            row = actions.get_request(session, name)
            if session.scalar(select(WorkflowRow.id).where(WorkflowRow.request_id == row.id)) is None:
                raise actions.Conflict(f"request {name} is {row.status}: it has no workflow, hence no errors")
            return shape(dict[str, Any], error_summary(session, row))

    def versions(self, name: str) -> list[dict[str, Any]]:
        from wms2.core.operator import versions

        with self._session() as session:
            actions.get_request(session, name)
            return shape(list[models.VersionOut], versions(session, name))

    # -- operator actions --------------------------------------------------------------------------
    @staticmethod
    def _reason(reason: str) -> None:
        """The API's rule for a reason (1-500 printable characters), locally too."""
        with translated():
            shape(models.Reason, {"reason": reason})

    def _summary(self, name: str, call: Callable[[Session], Any]) -> dict[str, Any]:
        """Run an action on an existing request (404 first, as the API does); its summary after."""
        from wms2.core.views import request_summary

        with self._session() as session:
            actions.get_request(session, name)
            return shape(models.RequestSummary, request_summary(call(session)))

    def stop(self, name: str, reason: str) -> dict[str, Any]:
        self._reason(reason)
        return self._summary(name, lambda s: self._operator().stop(s, name, self.by, reason, utcnow()))

    def release(self, name: str, reason: str, overrides: Release) -> dict[str, Any]:
        self._reason(reason)
        from wms2.core.operator import ReleaseOverrides

        ov = ReleaseOverrides(memory_mb=overrides.memory_mb, max_retries=overrides.max_retries,
                              site_bans=list(overrides.site_bans), excluded_files=list(overrides.excluded_files))
        return self._summary(name, lambda s: self._operator().release(s, name, self.by, reason, utcnow(), ov))

    def fail(self, name: str, reason: str) -> dict[str, Any]:
        self._reason(reason)
        with self._session() as session:
            row = actions.get_request(session, name)
            produced = self._operator().fail(session, name, self.by, reason, utcnow())
            return shape(models.FailResult, {"name": name, "status": row.status, "produced": produced})

    def abort(self, name: str, reason: str) -> dict[str, Any]:
        self._reason(reason)
        return self._summary(name, lambda s: actions.abort(s, name, self.by, reason, engine=self.engine))

    def restart(self, name: str, reason: str, cleanup: CleanupPolicy) -> dict[str, Any]:
        self._reason(reason)
        with self._session() as session:
            actions.get_request(session, name)
            new = self._operator().restart(session, name, self.by, reason, utcnow(), cleanup)
            return shape(models.RestartResult, {"name": name, "new_request": new})

    def priority(self, name: str, value: int, reason: str) -> dict[str, Any]:
        with translated():
            shape(models.RequestPatch, {"priority": value, "reason": reason})  # the API's bounds, locally too
        return self._summary(name, lambda s: actions.update_request(s, name, self.by, reason, priority=value))

    # -- admission, sites, bans --------------------------------------------------------------------
    def queue(self, limit: int, offset: int) -> dict[str, Any]:
        with self._session() as session:
            return shape(models.AdmissionQueue,
                         listings.admission_queue(session, self.settings, limit, offset, utcnow()))

    def _sync_sites(self) -> None:
        if self._sites_synced:
            return
        from wms2.services.sites import SiteCatalogError, make_site_catalog

        try:
            with self._session() as session:
                actions.sync_sites(session, make_site_catalog(self.settings))
        except SiteCatalogError as exc:
            raise ClientError(f"site catalog unavailable: {exc}", EXIT_UNAVAILABLE) from None
        self._sites_synced = True

    def sites(self, status: SiteStatus | None) -> list[dict[str, Any]]:
        self._sync_sites()
        with self._session() as session:
            now = utcnow()
            items = all_pages(lambda limit, offset: listings.list_sites(session, limit, offset, now, status))
            return shape(list[models.SiteOut], items)

    def site_status(self, name: str, enable: bool, reason: str) -> dict[str, Any]:
        self._reason(reason)
        if not SITE_RE.fullmatch(name):  # as the API's path check
            raise ClientError(f"name: {name!r} is not a CMS site name", EXIT_INVALID,
                              [{"field": "name", "message": f"must match {SITE_RE.pattern}"}])
        self._sync_sites()
        target = SiteStatus.enabled if enable else SiteStatus.draining
        with self._session() as session:
            row = actions.set_site_status(session, name, target, self.by, reason)
            return shape(models.SiteOut, listings.site_out(session, row, utcnow()))

    def bans(self, include_inactive: bool) -> list[dict[str, Any]]:
        with self._session() as session:
            now = utcnow()
            items = all_pages(lambda limit, offset: listings.list_bans(session, limit, offset, now,
                                                                       active=not include_inactive))
            return shape(list[models.BanOut], items)

    def lift_ban(self, ban_id: int, reason: str) -> dict[str, Any]:
        self._reason(reason)
        with self._session() as session:
            ban = actions.lift_ban(session, ban_id, self.by, reason)
            return shape(models.BanOut, listings.ban_out(ban, utcnow()))

    # -- DAGs --------------------------------------------------------------------------------------
    def dag_nodes(self, name: str, limit: int, offset: int, work_unit: str | None) -> dict[str, Any]:
        from wms2.api.dag_nodes import dag_nodes

        with self._session() as session:
            row = actions.get_request(session, name)
            wf = session.scalar(select(WorkflowRow).where(WorkflowRow.request_id == row.id))
            if wf is None or wf.current_dag_id is None:
                raise actions.Conflict(f"request {name} is {row.status}: it has no DAG yet")
            dag = session.get(DagRow, wf.current_dag_id)
            assert dag is not None, f"workflow {wf.id} points at a missing DAG {wf.current_dag_id}"
            data = {"dag_id": dag.id, **dag_nodes(Path(dag.submit_dir), limit, offset, work_unit)}
        return shape(models.DagNodes, data)
