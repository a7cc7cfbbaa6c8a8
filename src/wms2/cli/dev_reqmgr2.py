"""``wms2 dev reqmgr2 start|stop|status --home DIR``: a real local ReqMgr2 for tests and trials.

``start`` installs the server when missing (its own venv and npm prefix, see
:mod:`wms2.devservices.reqmgr2.install`), starts pouchdb-server and ReqMgr2, and prints one JSON object
on its last line with at least ``{"url": ...}`` (plus the HMAC key file that signs the front-end headers
ReqMgr2 trusts, the local DBS URL request documents must carry, and the process ids).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from wms2.cli.common import fail

reqmgr2_app = typer.Typer(help="A real ReqMgr2 (PyPI reqmgr2 on pouchdb-server, own venv).", no_args_is_help=True)

HomeDirOpt = Annotated[Path, typer.Option("--home", help="state directory of this ReqMgr2 (data, logs, keys)")]


@reqmgr2_app.command("start")
def start_cmd(home: HomeDirOpt,
              timeout: Annotated[float, typer.Option(help="give up starting after this many seconds")] = 120.0,
              ) -> None:
    """Start ReqMgr2 for DIR (or report the one running); last line: JSON with "url"."""
    from wms2.devservices.reqmgr2.install import ReqMgr2InstallError
    from wms2.devservices.reqmgr2.server import ReqMgr2ServerError, start

    try:
        state = start(home, timeout_s=timeout)
    except (ReqMgr2ServerError, ReqMgr2InstallError) as exc:
        raise fail(str(exc)) from None
    print(json.dumps(state))


@reqmgr2_app.command("stop")
def stop_cmd(home: HomeDirOpt) -> None:
    """Stop the ReqMgr2 of DIR (its data stays for the next start)."""
    from wms2.devservices.reqmgr2.server import stop

    print(json.dumps(stop(home)))


@reqmgr2_app.command("status")
def status_cmd(home: HomeDirOpt) -> None:
    """Whether the ReqMgr2 of DIR runs and answers (exit 0) or not (exit 1)."""
    from wms2.devservices.reqmgr2.server import status

    state = status(home.absolute())
    print(json.dumps(state))
    raise typer.Exit(0 if state["running"] else 1)


def attach(dev_app: typer.Typer) -> None:
    dev_app.add_typer(reqmgr2_app, name="reqmgr2")


def show_reqmgr2_source(home: Path | None, source: str, json_out: bool) -> None:
    """``wms2 requests --source reqmgr2``: ReqMgr2's requests for the configured teams, with WMS2's side."""
    from rich.table import Table

    from wms2.cli.common import console, print_json, settings_for
    from wms2.core.reqmgr_sync import source_view
    from wms2.core.service import open_database
    from wms2.services.reqmgr import RequestSourceError

    if source != "reqmgr2":
        raise fail(f"--source: unknown source {source!r} (choose reqmgr2)", 2)
    settings = settings_for(home)
    if not settings.reqmgr2.teams:
        raise fail("reqmgr2.teams is empty: this WMS2 instance serves no ReqMgr2 team", 2)
    try:
        db = open_database(settings)
    except RuntimeError as exc:
        raise fail(str(exc)) from None
    try:
        rows = source_view(db, settings)
    except RequestSourceError as exc:
        raise fail(exc.message, 5) from None
    finally:
        db.dispose()
    if json_out:
        print_json(rows)
        return
    table = Table("name", "team", "ReqMgr2", "WMS2", "last written", "note",
                  title=f"ReqMgr2 {settings.reqmgr2.url} — teams {', '.join(settings.reqmgr2.teams)}")
    for r in rows:
        note = r["import_error"] or r["last_error"] or ("" if r["imported"] else "not imported yet")
        table.add_row(r["name"], r["team"], r["reqmgr2_status"] or "", r["wms2_status"] or "-",
                      r["written_status"] or "", note)
    console.print(table)
