"""`wms2 dev rucio start|stop|status --home DIR`: a real Rucio server for tests and trials.

``start`` prints its URL and credentials, and one JSON object on its last line
(``{"url", "account", "password", "auth_type", "scope", "pid", "port", "home", "version", "client_config",
"rses"}``); it refuses to run a second server for the same DIR.  ``stop`` ends it (the database stays,
so a later ``start`` continues with the same data, URL and credentials when the port is still free).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from wms2.cli.common import console, fail, print_json

rucio_app = typer.Typer(help="A real Rucio server (PyPI's rucio in its own venv, gunicorn, SQLite).",
                        no_args_is_help=True)
DirOpt = Annotated[Path, typer.Option("--home", help="the server's directory (config, database, storage, logs)")]


@rucio_app.command("start")
def start(home: DirOpt) -> None:
    """Install (first time), bootstrap and start the server; print its URL, account and password."""
    from wms2.devservices import rucio_dev  # deferred: httpx, only these commands need it

    try:
        state = rucio_dev.start(home)
    except rucio_dev.RucioDevError as exc:
        raise fail(str(exc)) from None
    console.print(f"Rucio {state.version} at {state.url}  account {state.account} (userpass, password "
                  f"{state.password})  scope {state.scope}  RSEs {', '.join(sorted(state.rses))}", highlight=False)
    console.print(f"client config: {state.client_config}   stop: wms2 dev rucio stop --home {state.home}",
                  highlight=False)
    print(json.dumps(state.public()))


@rucio_app.command("stop")
def stop(home: DirOpt) -> None:
    """Stop the server of DIR (its data stays)."""
    from wms2.devservices import rucio_dev  # deferred: httpx, only these commands need it

    try:
        stopped = rucio_dev.stop(home)
    except rucio_dev.RucioDevError as exc:
        raise fail(str(exc)) from None
    print(json.dumps({"stopped": stopped, "home": str(home.expanduser().absolute())}))


@rucio_app.command("status")
def status(home: DirOpt) -> None:
    """Whether the server of DIR runs (it answers /ping), with its URL and account."""
    from wms2.devservices import rucio_dev  # deferred: httpx, only these commands need it

    try:
        print_json(rucio_dev.status(home))
    except rucio_dev.RucioDevError as exc:
        raise fail(str(exc)) from None


def attach(dev_app: typer.Typer) -> None:
    dev_app.add_typer(rucio_app, name="rucio")
