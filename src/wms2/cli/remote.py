"""The REST API as a :class:`wms2.cli.client.WmsClient` (``--server URL --token T``).

Each method is one or a few HTTP calls; answers are shaped by the same response models as the local
client, so both print the same JSON.  Error bodies of the server (``{"status", "detail", "errors"}``)
become :class:`ClientError` with the server's message and the local mode's exit code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from wms2.api import models
from wms2.api.app import API_PREFIX
from wms2.cli.client import (
    EXIT_INVALID,
    EXIT_NOT_FOUND,
    EXIT_OTHER,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    ClientError,
    Release,
    all_pages,
    shape,
)
from wms2.domain.enums import CleanupPolicy, RequestStatus, SiteStatus

TIMEOUT_S = 60.0  # engine-backed actions (stop, fail) wait for the schedd
EXIT_BY_STATUS = {400: EXIT_INVALID, 401: EXIT_REFUSED, 403: EXIT_REFUSED, 404: EXIT_NOT_FOUND,
                  409: EXIT_REFUSED, 413: EXIT_INVALID, 422: EXIT_INVALID, 502: EXIT_UNAVAILABLE,
                  503: EXIT_UNAVAILABLE}


def api_base(server: str) -> str:
    base = server.rstrip("/")
    return base if base.endswith(API_PREFIX) else base + API_PREFIX


def _q(name: str) -> str:
    return quote(name, safe="")


class RemoteClient:
    def __init__(self, server: str, token: str | None, transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.server = api_base(server)
        self.http = httpx.Client(base_url=self.server, headers=headers, timeout=TIMEOUT_S, transport=transport)

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            response = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach {self.server}: {exc}", EXIT_UNAVAILABLE) from None
        if response.is_success:
            return response.json()
        try:
            body = response.json()
        except ValueError:
            body = {}
        detail = body.get("detail") if isinstance(body, dict) else None
        errors = body.get("errors") if isinstance(body, dict) else None
        message = f"server answered {response.status_code}: {detail or response.reason_phrase}"
        raise ClientError(message, EXIT_BY_STATUS.get(response.status_code, EXIT_OTHER),
                          errors if isinstance(errors, list) else None)

    def _pages(self, path: str, params: dict[str, Any]) -> list[Any]:
        """Every item of a listing, in pages of the server's default size (whatever its maximum is)."""
        clean = {k: v for k, v in params.items() if v is not None}
        return all_pages(lambda _limit, offset: self._call("GET", path, params={**clean, "offset": offset}))

    # -- requests ----------------------------------------------------------------------------------
    def submit(self, documents: list[tuple[str, dict[str, Any]]], requestor: str | None) -> list[dict[str, Any]]:
        out = []
        for _source, doc in documents:
            if requestor and not doc.get("Requestor"):
                doc = {**doc, "Requestor": requestor}
            answer = self._call("POST", "/requests", json=doc)
            out.append({"name": answer["name"], "created": answer["created"]})
        return out

    def import_by_name(self, names: Sequence[str], requestor: str | None,
                       documents: Sequence[tuple[str, dict[str, Any]]] = ()) -> list[dict[str, Any]]:
        """The documents, then ``{"RequestName": name}`` for each name: the *server* fetches from ReqMgr2."""
        out = self.submit(list(documents), requestor)
        for name in names:
            answer = self._call("POST", "/requests", json={"RequestName": name})
            out.append({"name": answer["name"], "created": answer["created"]})
        return out

    def requests(self, status: RequestStatus | None, campaign: str | None,
                 requestor: str | None) -> list[dict[str, Any]]:
        items = self._pages("/requests", {"status": status.value if status else None, "campaign": campaign,
                                          "requestor": requestor})
        return shape(list[models.RequestSummary], items)

    def show(self, name: str) -> dict[str, Any]:
        return shape(models.RequestDetail, self._call("GET", f"/requests/{_q(name)}"))

    def errors(self, name: str) -> dict[str, Any]:
        return shape(dict[str, Any], self._call("GET", f"/requests/{_q(name)}/errors"))

    def versions(self, name: str) -> list[dict[str, Any]]:
        return shape(list[models.VersionOut], self._call("GET", f"/requests/{_q(name)}/versions"))

    # -- operator actions --------------------------------------------------------------------------
    def stop(self, name: str, reason: str) -> dict[str, Any]:
        return shape(models.RequestSummary, self._call("POST", f"/requests/{_q(name)}/stop", json={"reason": reason}))

    def release(self, name: str, reason: str, overrides: Release) -> dict[str, Any]:
        body = {"reason": reason, "memory_mb": overrides.memory_mb, "max_retries": overrides.max_retries,
                "site_bans": list(overrides.site_bans), "excluded_files": list(overrides.excluded_files)}
        return shape(models.RequestSummary, self._call("POST", f"/requests/{_q(name)}/release", json=body))

    def fail(self, name: str, reason: str) -> dict[str, Any]:
        return shape(models.FailResult, self._call("POST", f"/requests/{_q(name)}/fail", json={"reason": reason}))

    def abort(self, name: str, reason: str) -> dict[str, Any]:
        return shape(models.RequestSummary, self._call("DELETE", f"/requests/{_q(name)}", params={"reason": reason}))

    def restart(self, name: str, reason: str, cleanup: CleanupPolicy) -> dict[str, Any]:
        body = {"reason": reason, "cleanup_policy": cleanup.value}
        return shape(models.RestartResult, self._call("POST", f"/requests/{_q(name)}/restart", json=body))

    def priority(self, name: str, value: int, reason: str) -> dict[str, Any]:
        body = {"priority": value, "reason": reason}
        return shape(models.RequestSummary, self._call("PATCH", f"/requests/{_q(name)}", json=body))

    # -- admission, sites, bans --------------------------------------------------------------------
    def queue(self, limit: int, offset: int) -> dict[str, Any]:
        return shape(models.AdmissionQueue, self._call("GET", "/admission/queue",
                                                       params={"limit": limit, "offset": offset}))

    def sites(self, status: SiteStatus | None) -> list[dict[str, Any]]:
        return shape(list[models.SiteOut], self._pages("/sites", {"status": status.value if status else None}))

    def site_status(self, name: str, enable: bool, reason: str) -> dict[str, Any]:
        action = "enable" if enable else "drain"
        return shape(models.SiteOut, self._call("POST", f"/sites/{_q(name)}/{action}", json={"reason": reason}))

    def bans(self, include_inactive: bool) -> list[dict[str, Any]]:
        items = self._pages("/sites/bans", {"active": "false" if include_inactive else "true"})
        return shape(list[models.BanOut], items)

    def lift_ban(self, ban_id: int, reason: str) -> dict[str, Any]:
        return shape(models.BanOut, self._call("POST", f"/sites/bans/{ban_id}/lift", json={"reason": reason}))

    # -- DAGs --------------------------------------------------------------------------------------
    def dag_nodes(self, name: str, limit: int, offset: int, work_unit: str | None) -> dict[str, Any]:
        detail = self._call("GET", f"/requests/{_q(name)}")
        workflow = detail.get("workflow") or {}
        dag_id = workflow.get("current_dag_id")
        if dag_id is None:
            raise ClientError(f"request {name} is {detail['status']}: it has no DAG yet", EXIT_REFUSED)
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if work_unit is not None:
            params["work_unit"] = work_unit
        return shape(models.DagNodes, self._call("GET", f"/dags/{dag_id}/nodes", params=params))
