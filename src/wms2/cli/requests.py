"""Request commands: ``init``, ``db upgrade``, ``submit``, ``requests``, ``show``, ``run``."""

from __future__ import annotations

import getpass
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.table import Table

from wms2.cli.client import EXIT_INVALID, EXIT_REFUSED, ClientError
from wms2.cli.common import (
    HomeOpt,
    JsonOpt,
    ServerOpt,
    TokenOpt,
    client,
    compact_table,
    console,
    err_console,
    fail,
    on_sigterm,
    print_json,
    settings_for,
)
from wms2.cli.common import open_client as client_for
from wms2.domain.enums import RequestStatus

if TYPE_CHECKING:
    from wms2.core.lifecycle import LifecycleManager
    from wms2.core.owner import LifecycleOwner
    from wms2.core.ownership import LeaseInfo
    from wms2.db.session import Database

# The core, SQLAlchemy and Alembic are imported by the commands that use them, so that the other
# commands (and ``wms2 --help``) start quickly: docs/design-notes/test-speed.md.

db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)


def _open(home: Path | None) -> tuple[Any, Database]:
    from wms2.core.service import open_database

    settings = settings_for(home)
    try:
        return settings, open_database(settings)
    except RuntimeError as exc:
        raise fail(str(exc)) from None


def init(home: HomeOpt = None) -> None:
    """Create the home directory and the database (idempotent)."""
    from wms2.core.db_outage import hide_password
    from wms2.core.service import init_home

    settings = settings_for(home)
    try:
        db = init_home(settings)
    except RuntimeError as exc:
        raise fail(str(exc)) from None
    db.dispose()
    console.print(f"WMS2 home ready at {settings.home} (database {hide_password(settings.db_url)})")


@db_app.command("upgrade")
def db_upgrade(home: HomeOpt = None) -> None:
    """Apply the database migrations up to the newest revision."""
    from wms2.db.migrate import current_revision, upgrade
    from wms2.db.session import Database

    settings = settings_for(home)
    db = Database(settings.db_url)
    upgrade(db.engine)
    console.print(f"database at revision {current_revision(db.engine)}")
    db.dispose()


def submit(
    files: Annotated[list[Path] | None, typer.Argument(help="ReqMgr2 request documents (JSON)")] = None,
    from_reqmgr: Annotated[list[str] | None, typer.Option(
        "--from-reqmgr", metavar="NAME",
        help="import this request from ReqMgr2 by name (repeatable; remotely the server fetches it)")] = None,
    home: HomeOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    requestor: Annotated[str | None, typer.Option(help="requestor for templates without one")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Import request documents and/or ReqMgr2 requests by name; locally all are stored or, on any error,
    none (remotely: one by one)."""
    from wms2.core.workflow_manager import parse_document_text
    from wms2.domain.reqmgr import RequestImportError

    files, names = files or [], from_reqmgr or []
    if not files and not names:
        raise fail("nothing to submit: give request files and/or --from-reqmgr NAME", EXIT_INVALID)
    documents: list[tuple[str, Any]] = []
    try:
        for path in files:
            try:
                text = path.read_text()
            except OSError as exc:
                raise fail(f"{path}: cannot read: {exc.strerror}") from None
            documents.append((path.stem, parse_document_text(text, path.name)))
        with client_for(home, server, token) as c:
            results = c.import_by_name(names, requestor, documents) if names else c.submit(documents, requestor)
    except RequestImportError as exc:
        _rejected([{"field": e.field, "message": e.message} for e in exc.errors], json_out)
    except ClientError as exc:
        if exc.exit_code != EXIT_INVALID:
            raise fail(exc.message, exc.exit_code) from None
        _rejected(exc.errors or [{"field": "body", "message": exc.message}], json_out)
    if json_out:
        print_json({"ok": True, "requests": results})
    else:
        for r in results:
            print(r["name"] if r["created"] else f"{r['name']} (already submitted)")


def _rejected(errors: list[dict[str, str]], json_out: bool) -> NoReturn:
    if json_out:
        print_json({"ok": False, "errors": errors})
    else:
        err_console.print("[bold red]rejected[/] (nothing was stored):")
        for error in errors:
            err_console.print(f"  {error['field']}: {error['message']}", highlight=False, markup=False)
    raise typer.Exit(EXIT_INVALID)


def list_requests(
    home: HomeOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    status: Annotated[RequestStatus | None, typer.Option(help="only this status")] = None,
    campaign: Annotated[str | None, typer.Option(help="only this campaign")] = None,
    requestor: Annotated[str | None, typer.Option(help="only this requestor")] = None,
    source: Annotated[str | None, typer.Option(
        help="reqmgr2: what ReqMgr2 holds for this instance's teams and what WMS2 did with each")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List requests, newest first."""
    if source is not None:
        from wms2.cli.dev_reqmgr2 import show_reqmgr2_source

        show_reqmgr2_source(home, source, json_out)
        return
    with client(home, server, token) as c:
        rows = c.requests(status, campaign, requestor)
    if json_out:
        print_json(rows)
        return
    table = Table("name", "status", "priority", "type", "campaign", "updated")
    for r in rows:
        table.add_row(r["name"], r["status"], str(r["priority"]), r["request_type"], r["campaign"] or "",
                      r["updated_at"][:19])
    console.print(table)


def show(name: str, home: HomeOpt = None, server: ServerOpt = None, token: TokenOpt = None,
         json_out: JsonOpt = False) -> None:
    """Show a request: spec summary, workflow, rounds and the audit trail."""
    with client(home, server, token) as c:
        detail = c.show(name)
    if json_out:
        print_json(detail)
        return
    _print_detail(detail)


def _rounds_table(rounds: list[dict[str, Any]]) -> Table:
    table = compact_table("round", "dag", "status", "WUs done\n/total", "memory\nMB", "cores",
                          "events\nper job", "peak RSS\nMB", "CPU\neff")
    for r in rounds:
        p, m = r.get("params", {}), r.get("metrics", {})
        table.add_row(str(r["round"]), str(r["dag_id"]), r["status"],
                      f"{r['work_units_done']}/{r['work_units']}", str(p.get("request_memory_mb", "")),
                      str(p.get("request_cpus", "")), str(p.get("events_per_job", "")),
                      str(m.get("peak_rss_mb", "")), str(m.get("cpu_efficiency", "")))
    return table


def _print_detail(d: dict[str, Any]) -> None:
    console.print(f"[bold]{d['name']}[/]  status [bold]{d['status']}[/]  priority {d['priority']}"
                  f"{'  URGENT' if d['urgent'] else ''}", highlight=False)
    console.print(f"type {d['request_type']}  requestor {d['requestor']}  campaign {d['campaign']}", highlight=False)
    console.print(f"input {d['input_dataset'] or '(generation)'}", highlight=False)
    for ds in d["output_datasets"]:
        console.print(f"  output {ds}", highlight=False)
    wf = d.get("workflow")
    if wf:
        console.print(f"workflow: status {wf['status']}, round {wf['current_round']}, "
                      f"next event {wf['next_first_event']}, events produced {wf['events_produced']}")
    if d.get("rounds"):
        console.print(_rounds_table(d["rounds"]))
    table = Table("at", "from", "to", "by", "reason", title="audit trail")
    for t in d["status_transitions"]:
        repeated = f" (x{t['count']}, last {t['last_at'][:19]})" if t.get("count") else ""
        table.add_row(t["at"][:19], t["from"] or "", t["to"], t["by"], t["reason"] + repeated)
    console.print(table)


def run(
    home: HomeOpt = None,
    once: Annotated[bool, typer.Option("--once", help="run a single lifecycle cycle and exit")] = False,
    standby: Annotated[bool, typer.Option(
        "--standby", help="when another process owns the lifecycle, wait and take over when it stops;"
                          " after losing the lifecycle to another process, wait again"
                          " (PostgreSQL only)")] = False,
) -> None:
    """Run the Request Lifecycle Manager (foreground); refused while another process owns it."""
    from wms2.core.owner import LifecycleOwner
    from wms2.core.ownership import Lease, LeaseLost, OwnerRefused
    from wms2.core.service import configure_logging

    stop = threading.Event()
    wake: list[Callable[[], None]] = []
    try:
        with on_sigterm(lambda *_: (stop.set(), [w() for w in wake])):
            opened = _open_waiting(home, stop) if standby else _open(home)
    except KeyboardInterrupt:
        return
    if opened is None:  # stopped while waiting for the database
        return
    settings, db = opened
    configure_logging(settings)
    # A stand-by that lost the lease after a takeover waits again (the pair stays a pair); a plain
    # ``run`` was started as the only owner, and stops.
    owner = LifecycleOwner(Lease(db, settings.ownership, command="run"), settings.ownership, standby=standby,
                           step_down=standby, on_standby=_print_standby)
    try:
        with on_sigterm(lambda *_: (stop.set(), [w() for w in wake])):
            _run_owned(settings, db, owner, stop, wake, once)
    except OwnerRefused as exc:
        raise fail(str(exc), EXIT_REFUSED) from None
    except LeaseLost as exc:
        raise fail(f"lifecycle ownership lost, stopping: {exc}") from None
    except KeyboardInterrupt:
        stop.set()
    finally:
        owner.release()  # idempotent; a lost lease is not released
        db.dispose()


def _open_waiting(home: Path | None, stop: threading.Event) -> tuple[Any, Database] | None:
    """``_open`` for a stand-by: a database that does not answer yet (a restart, a fail-over) is waited
    for, with the lifecycle's outage backoff, each attempt printed; any other problem fails at once.
    None when stopped while waiting."""
    from wms2.core.service import DatabaseUnreachable, open_database

    settings = settings_for(home)
    delay = settings.ownership.db_retry_base_s
    while True:
        try:
            return settings, open_database(settings)
        except DatabaseUnreachable as exc:
            err_console.print(f"stand-by: {exc}; retrying in {delay:g}s", highlight=False, markup=False)
        except RuntimeError as exc:
            raise fail(str(exc)) from None
        if stop.wait(delay):
            return None
        delay = min(delay * 2, settings.ownership.db_retry_max_s)


def _run_owned(settings: Any, db: Database, owner: LifecycleOwner, stop: threading.Event,
               wake: list[Callable[[], None]], once: bool) -> None:
    if not owner.acquire(stop):
        return
    from wms2.core.service import build_lifecycle
    from wms2.core.wiring import build_workers

    manager = build_lifecycle(settings, db, build_workers(settings, db))
    try:
        if once:
            _run_once(owner, manager)
        wake.append(manager.wake)
        console.print(f"lifecycle running every {settings.lifecycle.cycle_seconds:g}s (Ctrl-C to stop)")
        owner.run(manager, stop, on_cycle=lambda r: console.print(
            f"cycle: {r.evaluated} requests, {r.transitions} transitions, {len(r.errors)} errors"))
    finally:
        manager.close()  # its helper processes (the status reader)


def _print_standby(current: LeaseInfo) -> None:
    console.print(f"stand-by: the lifecycle is owned by {current.describe()}", highlight=False, markup=False)


def _run_once(owner: LifecycleOwner, manager: LifecycleManager) -> NoReturn:
    report = owner.run_once(manager)
    console.print(f"cycle: {report.evaluated} requests, {report.transitions} transitions, "
                  f"{len(report.errors)} errors, {report.duration_s:.2f}s")
    for e in report.errors:
        err_console.print(f"  {e['request']}: {e['error']}", highlight=False, markup=False)
    raise typer.Exit(1 if report.errors else 0)


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.add_typer(db_app, name="db")
    app.command()(submit)
    app.command("requests")(list_requests)
    app.command()(show)
    app.command()(run)
