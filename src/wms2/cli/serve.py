"""``wms2 serve`` (REST API + Lifecycle Manager in one process) and ``wms2 token create``."""

from __future__ import annotations

import getpass
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from wms2.cli.common import HomeOpt, JsonOpt, console, fail, on_sigterm, print_json, settings_for

if TYPE_CHECKING:
    from wms2.config import Settings

token_app = typer.Typer(help="API tokens (stored hashed; the secret is shown once).", no_args_is_help=True)


def serve(
    home: HomeOpt = None,
    port: Annotated[int | None, typer.Option("--port", help="listen port (default: api.port)")] = None,
    host: Annotated[str | None, typer.Option("--host", help="listen address (default: api.host, loopback)")] = None,
) -> None:
    """Run the REST API and the Lifecycle Manager (and the local pool daemon for the local engine); the
    lifecycle runs while this process holds the lease, otherwise it stands by."""
    with on_sigterm(_terminate):  # during start-up too: what was started gets stopped
        _serve(settings_for(home), port, host)


def _serve(settings: Settings, port: int | None, host: str | None) -> None:
    from wms2.api.server import UnsafeListenAddress, base_url, prepare
    from wms2.api.server import serve as run_server
    from wms2.core.service import configure_logging

    if port is not None:
        settings.api.port = port
    if host is not None:
        settings.api.host = host
    try:
        service, token = prepare(settings)
    except (UnsafeListenAddress, RuntimeError) as exc:
        raise fail(str(exc)) from None
    try:
        configure_logging(settings)
        service.owner.on_standby = lambda current: print(
            f"stand-by: the lifecycle is owned by {current.describe()}", flush=True)
        sys.stdout.write(f"WMS2 API on {base_url(settings)} (home {settings.home})\n")
        if token is not None:
            sys.stdout.write(f"operator token: {token}\n(also in {settings.home / 'operator.token'}; shown once)\n")
        sys.stdout.flush()
        run_server(service)
    finally:
        service.shutdown()


def _terminate(signum: int, _frame: object) -> None:
    from wms2.api.server import EXIT

    if EXIT.request():  # the server is up: it stops itself, then the clean-up runs
        return
    raise SystemExit(128 + signum)  # still starting: unwind (and if this is swallowed, EXIT remembers)


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option("--role", help="viewer | requestor | operator")],
    name: Annotated[str, typer.Option("--name", help="the identity the token acts as (e.g. a requestor)")],
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create an API token and print it (only its sha256 is stored)."""
    from wms2.api.auth import create_token
    from wms2.core.service import init_home

    settings = settings_for(home)
    db = init_home(settings)
    try:
        with db.session() as session:
            row, secret = create_token(session, name, role, by=_who())
            role_name = row.role
    except ValueError as exc:
        raise fail(str(exc)) from None
    finally:
        db.dispose()
    if json_out:
        print_json({"name": name, "role": role_name, "token": secret})
    else:
        console.print(f"token for {name} ({role_name}); shown once:", highlight=False)
        sys.stdout.write(secret + "\n")


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(token_app, name="token")
