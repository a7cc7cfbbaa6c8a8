"""``wms2 dev reqmgr2 start|stop|status --home DIR``: a real local ReqMgr2 for tests and trials.

``start`` installs the server when missing (its own venv and npm prefix, see
:mod:`wms2.devservices.reqmgr2.install`), starts pouchdb-server and ReqMgr2, and prints one JSON object
on its last line with at least ``{"url": ...}`` (plus the HMAC key file that signs the front-end headers
ReqMgr2 trusts, the local DBS URL request documents must carry, and the process ids).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

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
    from wms2.cli.common import print_json, settings_for
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
    _print_source_view(rows, settings.reqmgr2.url, list(settings.reqmgr2.teams))


def _print_source_view(rows: list[dict[str, Any]], url: str, teams: list[str]) -> None:
    """A table that stays readable in 80 columns and through a pipe: statuses are never cut (their
    columns are as wide as the longest ReqMgr2 status), long request names fold onto a second line, the
    team is a column only when this instance serves several, and notes follow the table in full."""
    from rich import box
    from rich.table import Table

    from wms2.cli.common import console

    console.print(f"ReqMgr2 {url}, team{'s' if len(teams) > 1 else ''} {', '.join(teams)}: "
                  f"{len(rows)} request(s)", highlight=False, markup=False)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("request", overflow="fold", ratio=1)
    if len(teams) > 1:
        table.add_column("team", no_wrap=True)
    for header in ("ReqMgr2", "WMS2", "written"):
        table.add_column(header, no_wrap=True, min_width=len(header))
    notes: list[str] = []
    for r in rows:
        note = r["import_error"] or r["last_error"] or ("" if r["imported"] else "not imported")
        if note:
            notes.append(f"{r['name']}: {note}")
        cells = [r["name"], *([r["team"]] if len(teams) > 1 else []), r["reqmgr2_status"] or "",
                 r["wms2_status"] or "-", r["written_status"] or "-"]
        table.add_row(*cells)
    console.print(table)
    for note in notes:
        console.print(note, highlight=False, markup=False)
