"""The command line's view of WMS2: one interface, two implementations.

``wms2.cli.local_client.LocalClient`` calls the :mod:`wms2.core` functions on the database (``--home DIR``);
``wms2.cli.remote.RemoteClient`` talks to the REST API (``--server URL --token T``).  Every method
returns plain JSON-able data shaped by the API's own response models (:func:`shape`), so a command is
written once and prints the same thing in both modes.  Failures raise :class:`ClientError` with the
exit code the command uses: 2 invalid input, 3 refused (409, 401/403), 4 not found, 5 engine / service
unavailable.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from wms2.domain.enums import CleanupPolicy, RequestStatus, SiteStatus

T = TypeVar("T")
EXIT_INVALID = 2
EXIT_REFUSED = 3
EXIT_NOT_FOUND = 4
EXIT_UNAVAILABLE = 5
EXIT_OTHER = 1
LIST_PAGE = 1000  # rows per query when a command lists everything (the API's default max_page_size)


class ClientError(Exception):
    """An action failed; ``exit_code`` is what the command exits with, ``errors`` the fields at fault."""

    def __init__(self, message: str, exit_code: int, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.errors = errors or []


@dataclass(frozen=True)
class Release:
    memory_mb: int | None = None
    max_retries: int | None = None
    site_bans: tuple[str, ...] = ()
    excluded_files: tuple[str, ...] = ()


def shape(model: Any, data: Any) -> Any:
    """``data`` as the API puts it on the wire: validated by ``model``, dumped to JSON types by alias."""
    from pydantic import TypeAdapter  # deferred: most commands never shape data

    adapter: TypeAdapter[Any] = TypeAdapter(model)
    return adapter.dump_python(adapter.validate_python(data), mode="json", by_alias=True)


def whoami() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


class WmsClient(Protocol):
    """What the operator and requestor commands need (same answers locally and remotely)."""

    def submit(self, documents: list[tuple[str, dict[str, Any]]], requestor: str | None) -> list[dict[str, Any]]: ...
    def import_by_name(self, names: Sequence[str], requestor: str | None,
                       documents: Sequence[tuple[str, dict[str, Any]]] = ()) -> list[dict[str, Any]]: ...
    def requests(self, status: RequestStatus | None, campaign: str | None,
                 requestor: str | None) -> list[dict[str, Any]]: ...
    def show(self, name: str) -> dict[str, Any]: ...
    def errors(self, name: str) -> dict[str, Any]: ...
    def versions(self, name: str) -> list[dict[str, Any]]: ...
    def stop(self, name: str, reason: str) -> dict[str, Any]: ...
    def release(self, name: str, reason: str, overrides: Release) -> dict[str, Any]: ...
    def fail(self, name: str, reason: str) -> dict[str, Any]: ...
    def abort(self, name: str, reason: str) -> dict[str, Any]: ...
    def restart(self, name: str, reason: str, cleanup: CleanupPolicy) -> dict[str, Any]: ...
    def priority(self, name: str, value: int, reason: str) -> dict[str, Any]: ...
    def queue(self, limit: int, offset: int) -> dict[str, Any]: ...
    def sites(self, status: SiteStatus | None) -> list[dict[str, Any]]: ...
    def site_status(self, name: str, enable: bool, reason: str) -> dict[str, Any]: ...
    def bans(self, include_inactive: bool) -> list[dict[str, Any]]: ...
    def lift_ban(self, ban_id: int, reason: str) -> dict[str, Any]: ...
    def dag_nodes(self, name: str, limit: int, offset: int, work_unit: str | None) -> dict[str, Any]: ...
    def close(self) -> None: ...


def all_pages(fetch: Callable[[int, int], dict[str, Any]]) -> list[Any]:
    """Every item of a paged listing (``fetch(limit, offset)`` returns one page)."""
    items: list[Any] = []
    while True:
        page = fetch(LIST_PAGE, len(items))
        items.extend(page["items"])
        if not page["items"] or len(items) >= page["total"]:
            return items


#: Names that live in :mod:`wms2.cli.local_client` (it imports the core, the database and the API
#: models, which most commands never need: see docs/design-notes/test-speed.md).
_LOCAL = ("LocalClient", "translated")


def __getattr__(name: str) -> Any:
    if name in _LOCAL:
        from wms2.cli import local_client

        return getattr(local_client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
