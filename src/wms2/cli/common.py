"""Options and helpers shared by every command."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from wms2.cli.client import ClientError, LocalClient, WmsClient
from wms2.config import Settings, load_settings

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", envvar="WMS2_HOME", help="state directory (database, submit dirs, logs)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON output")]

console = Console()
err_console = Console(stderr=True)


def settings_for(home: Path | None) -> Settings:
    return load_settings(home)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=1, default=str) + "\n")


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
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
