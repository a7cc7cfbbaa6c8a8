"""Options and helpers shared by every command."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from wms2.cli.client import ClientError, WmsClient

if TYPE_CHECKING:
    from wms2.config import Settings

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", envvar="WMS2_HOME", help="state directory (database, submit dirs, logs)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON output")]

console = Console()
err_console = Console(stderr=True)


def global_options(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option(
        "--home", help="state directory for the command that follows (as WMS2_HOME; the command's own"
                       " --home wins)")] = None,
) -> None:
    """Options before the command name (``wms2 --home DIR <command>``)."""
    if home is None:
        return
    previous = os.environ.get("WMS2_HOME")
    os.environ["WMS2_HOME"] = str(home)

    def restore() -> None:
        if previous is None:
            os.environ.pop("WMS2_HOME", None)
        else:
            os.environ["WMS2_HOME"] = previous

    ctx.call_on_close(restore)


@contextmanager
def on_sigterm(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """Handle SIGTERM with ``handler`` for the duration of a command (main thread only), then restore."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def settings_for(home: Path | None) -> Settings:
    from wms2.config import load_settings  # deferred: ``wms2 --help`` needs no settings

    return load_settings(home)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=1, default=str) + "\n")


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)  # one line, never cut
    return typer.Exit(code)


ServerOpt = Annotated[
    str | None,
    typer.Option("--server", envvar="WMS2_SERVER", help="talk to this WMS2 REST API instead of the local database"),
]
TokenOpt = Annotated[
    str | None, typer.Option("--token", envvar="WMS2_TOKEN", help="API token for --server", show_default=False),
]
ReasonOpt = Annotated[str, typer.Option("--reason", "-r", help="why (recorded in the audit trail)")]


@contextmanager
def open_client(home: Path | None, server: str | None, token: str | None) -> Iterator[WmsClient]:
    """The local database (``--home``) or the REST API (``--server``); ClientError passes through."""
    impl: WmsClient
    if server:
        from wms2.cli.remote import RemoteClient

        impl = RemoteClient(server, token)
    else:
        from wms2.cli.local_client import LocalClient
        from wms2.core.service import open_database

        settings = settings_for(home)
        try:
            db = open_database(settings)
        except RuntimeError as exc:
            raise fail(str(exc)) from None
        impl = LocalClient(settings, db)
    try:
        yield impl
    finally:
        impl.close()


@contextmanager
def client(home: Path | None, server: str | None, token: str | None) -> Iterator[WmsClient]:
    """:func:`open_client`; a ClientError becomes its message on stderr and its exit code."""
    try:
        with open_client(home, server, token) as impl:
            yield impl
    except ClientError as exc:
        for error in exc.errors:
            err_console.print(f"  {error.get('field')}: {error.get('message')}", highlight=False, markup=False)
        raise fail(exc.message, exc.exit_code) from None


def compact_table(*headers: str, title: str | None = None) -> Table:
    """A table that stays whole in 80 columns (a terminal or a pipe): no rules but the header's, columns
    one space apart, headers on two lines where needed, long values folded rather than cut."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=0, title=title)
    for header in headers:
        table.add_column(header, overflow="fold")
    return table
