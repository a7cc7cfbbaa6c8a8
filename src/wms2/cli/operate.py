"""Operator commands: errors, stop, release, fail, abort, restart, priority, versions, bans / ban lift, and
``dagctl hold|release``.  Local database by default, the REST API with ``--server URL --token T``.

Exit codes: 2 invalid value, 3 refused (not valid in the current status, or not allowed), 4 not found,
5 execution engine or server unavailable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from wms2.cli.client import EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_UNAVAILABLE, Release, WmsClient, whoami
from wms2.cli.common import (
    HomeOpt,
    JsonOpt,
    ReasonOpt,
    ServerOpt,
    TokenOpt,
    client,
    console,
    fail,
    print_json,
    settings_for,
)
from wms2.domain.enums import CleanupPolicy

if TYPE_CHECKING:
    from wms2.config import Settings
    from wms2.core.operator import Operator
    from wms2.db.session import Database

bans_app = typer.Typer(help="Site bans.", invoke_without_command=True)
ban_app = typer.Typer(help="Act on one site ban.", no_args_is_help=True)
dagctl_app = typer.Typer(help="Pause or resume a request's running DAG.", no_args_is_help=True)


def _done(json_out: bool, payload: Any, text: str) -> None:
    if json_out:
        print_json(payload)
    else:
        console.print(text, highlight=False, markup=False)


def _run(home: Path | None, server: str | None, token: str | None, call: Callable[[WmsClient], Any]) -> Any:
    with client(home, server, token) as c:
        return call(c)


def errors(name: str, home: HomeOpt = None, server: ServerOpt = None, token: TokenOpt = None,
           json_out: JsonOpt = False) -> None:
    """Failure summary by category, site, exit code and step; bad input files; log tails; rescues."""
    summary = _run(home, server, token, lambda c: c.errors(name))
    if json_out:
        print_json(summary)
        return
    console.print(f"[bold]{name}[/] ({summary['status']}): {summary['failures']} final node failures")
    for key in ("by_category", "by_site", "by_exit_code", "by_step"):
        if summary[key]:
            console.print(f"  {key.removeprefix('by_')}: " + ", ".join(f"{k}={v}" for k, v in summary[key].items()))
    for label in ("bad_input_files", "excluded_files"):
        for lfn in summary[label]:
            console.print(f"  {label.replace('_', ' ')}: {lfn}", highlight=False)
    for ban in summary["site_bans"]:
        console.print(f"  site ban #{ban['id']} {ban['site']}: {ban['reason']}", highlight=False)
    for sample in summary["samples"]:
        console.print(f"\n  r{sample['round']} {sample['work_unit']}/{sample['node']} attempt {sample['attempt']} "
                      f"at {sample['site']}: exit {sample['exit_code']} ({sample['category']}) {sample['message']}",
                      highlight=False, markup=False)
        for line in sample["log_tail"][-5:]:
            console.print(f"    | {line}", highlight=False, markup=False)
    console.print("\n  rescue history: " + " -> ".join(
        f"{d['dag_id']}({d['kind'] or 'round ' + str(d['round'])}:{d['status']})" for d in summary["rescue_history"]))


def stop(name: str, reason: ReasonOpt, home: HomeOpt = None, server: ServerOpt = None, token: TokenOpt = None,
         json_out: JsonOpt = False) -> None:
    """Clean stop: remove the DAGMan job; the request resumes from the rescue DAG."""
    out = _run(home, server, token, lambda c: c.stop(name, reason))
    _done(json_out, out, f"{name}: {out['status']}")


def release(
    name: str, reason: ReasonOpt, home: HomeOpt = None, server: ServerOpt = None, token: TokenOpt = None,
    json_out: JsonOpt = False,
    memory: Annotated[int | None, typer.Option(help="override request_memory (MB)")] = None,
    max_retries: Annotated[int | None, typer.Option(help="override the node retries")] = None,
    ban_site: Annotated[list[str] | None, typer.Option(help="site to exclude")] = None,
    exclude_file: Annotated[list[str] | None, typer.Option(help="input LFN to exclude")] = None,
) -> None:
    """Release a held request back to the queue (completed WUs are credited)."""
    overrides = Release(memory_mb=memory, max_retries=max_retries, site_bans=tuple(ban_site or ()),
                        excluded_files=tuple(exclude_file or ()))
    out = _run(home, server, token, lambda c: c.release(name, reason, overrides))
    _done(json_out, out, f"{name}: released, {out['status']}")


def fail_request(name: str, reason: ReasonOpt, home: HomeOpt = None, server: ServerOpt = None,
                 token: TokenOpt = None, json_out: JsonOpt = False) -> None:
    """Fail a request (terminal): remove its DAG, mark open blocks failed."""
    out = _run(home, server, token, lambda c: c.fail(name, reason))
    _done(json_out, out, f"{name}: {out['status']}; {out['produced']}")


def abort(name: str, reason: ReasonOpt, home: HomeOpt = None, server: ServerOpt = None, token: TokenOpt = None,
          json_out: JsonOpt = False) -> None:
    """Abort a request (requestor cancel): its live DAG is removed, open blocks fail."""
    out = _run(home, server, token, lambda c: c.abort(name, reason))
    _done(json_out, out, f"{name}: {out['status']}")


def restart(
    name: str, reason: ReasonOpt, home: HomeOpt = None, server: ServerOpt = None, token: TokenOpt = None,
    json_out: JsonOpt = False,
    cleanup: Annotated[CleanupPolicy, typer.Option(help="what happens to the old version's outputs")] =
    CleanupPolicy.keep_until_replaced,
) -> None:
    """Catastrophic recovery: fail this version and submit processing version + 1."""
    out = _run(home, server, token, lambda c: c.restart(name, reason, cleanup))
    _done(json_out, out, f"{name}: restarted as {out['new_request']}")


def priority(
    name: str, value: Annotated[int, typer.Argument(help="new priority")], reason: ReasonOpt,
    home: HomeOpt = None, server: ServerOpt = None, token: TokenOpt = None, json_out: JsonOpt = False,
) -> None:
    """Change a request's priority (admission order; recorded in the audit trail)."""
    out = _run(home, server, token, lambda c: c.priority(name, value, reason))
    _done(json_out, out, f"{name}: priority {out['priority']}")


def show_versions(name: str, home: HomeOpt = None, server: ServerOpt = None, token: TokenOpt = None,
                  json_out: JsonOpt = False) -> None:
    """The version chain of a request."""
    chain = _run(home, server, token, lambda c: c.versions(name))
    if json_out:
        print_json(chain)
        return
    table = Table("name", "version", "status", "cleanup", "superseded by")
    for v in chain:
        table.add_row(v["name"], str(v["processing_version"]), v["status"], v["cleanup_policy"],
                      v["superseded_by"] or "")
    console.print(table)


AllOpt = Annotated[bool, typer.Option("--all", help="include lifted and expired bans")]


def _print_bans(rows: list[dict[str, Any]]) -> None:
    table = Table("id", "site", "workflow", "expires", "active", "reason")
    for r in rows:
        table.add_row(str(r["id"]), r["site"], str(r["workflow_id"] or "ALL"), r["expires_at"] or "",
                      str(r["active"]), r["reason"])
    console.print(table)


@bans_app.callback()
def bans(ctx: typer.Context, home: HomeOpt = None, server: ServerOpt = None, token: TokenOpt = None,
         json_out: JsonOpt = False, all_: AllOpt = False) -> None:
    """Site bans in force, newest first (per workflow and system-wide); `bans list` is the same."""
    if ctx.invoked_subcommand is not None:
        return
    rows = _run(home, server, token, lambda c: c.bans(all_))
    if json_out:
        print_json(rows)
    else:
        _print_bans(rows)


@bans_app.command("list")
def bans_list(home: HomeOpt = None, server: ServerOpt = None, token: TokenOpt = None, json_out: JsonOpt = False,
              all_: AllOpt = False) -> None:
    """Site bans in force (per workflow and system-wide)."""
    rows = _run(home, server, token, lambda c: c.bans(all_))
    if json_out:
        print_json(rows)
    else:
        _print_bans(rows)


def _lift(ban_id: int, reason: str, home: Path | None, server: str | None, token: str | None,
          json_out: bool) -> None:
    out = _run(home, server, token, lambda c: c.lift_ban(ban_id, reason))
    _done(json_out, out, f"ban {ban_id} ({out['site']}) lifted")


@ban_app.command("lift")
def ban_lift(ban_id: int, reason: ReasonOpt, home: HomeOpt = None, server: ServerOpt = None,
             token: TokenOpt = None, json_out: JsonOpt = False) -> None:
    """Lift a site ban."""
    _lift(ban_id, reason, home, server, token, json_out)


@bans_app.command("lift")
def bans_lift(ban_id: int, reason: ReasonOpt, home: HomeOpt = None, server: ServerOpt = None,
              token: TokenOpt = None, json_out: JsonOpt = False) -> None:
    """Lift a site ban (same as `ban lift`)."""
    _lift(ban_id, reason, home, server, token, json_out)


# -- dagctl: local only (the API addresses DAGs by id: POST /dags/{id}/hold|release) -----------------
def _db(home: Path | None) -> tuple[Settings, Database]:
    from wms2.core.service import open_database

    settings = settings_for(home)
    try:
        return settings, open_database(settings)
    except RuntimeError as exc:
        raise fail(str(exc)) from None


def _dag_act(home: Path | None, action: Callable[[Any, Operator, datetime], Any]) -> Any:
    from wms2.core.operator import ActionRefused
    from wms2.core.wiring import build_operator
    from wms2.domain.transitions import IllegalTransition
    from wms2.engines.base import EngineError
    from wms2.engines.factory import make_engine

    settings, db = _db(home)
    try:
        if settings.engine.kind == "local":
            from wms2.engines.local_engine import ensure_pool_running

            ensure_pool_running(settings)
        operator = build_operator(settings, make_engine(settings))
        with db.session() as session:
            return action(session, operator, datetime.now(UTC))
    except KeyError as exc:
        raise fail(str(exc.args[0]), code=EXIT_NOT_FOUND) from None
    except (ActionRefused, IllegalTransition) as exc:
        raise fail(str(exc), code=EXIT_REFUSED) from None
    except EngineError as exc:
        raise fail(f"engine: {exc}", code=EXIT_UNAVAILABLE) from None
    finally:
        db.dispose()


@dagctl_app.command("hold")
def dag_hold(name: str, reason: ReasonOpt, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Hold the request's DAGMan job (stop submitting; keep state and the queue slot)."""
    _dag_act(home, lambda s, o, _n: o.hold_dag(s, name, whoami(), reason))
    _done(json_out, {"name": name, "dag": "halted"}, f"{name}: DAG held")


@dagctl_app.command("release")
def dag_release(name: str, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Release the request's held DAGMan job."""
    _dag_act(home, lambda s, o, _n: o.release_dag(s, name, whoami()))
    _done(json_out, {"name": name, "dag": "running"}, f"{name}: DAG released")


def register(app: typer.Typer) -> None:
    app.command()(errors)
    app.command()(stop)
    app.command()(release)
    app.command("fail")(fail_request)
    app.command()(abort)
    app.command()(restart)
    app.command()(priority)
    app.command("versions")(show_versions)
    app.add_typer(bans_app, name="bans")
    app.add_typer(ban_app, name="ban")
    app.add_typer(dagctl_app, name="dagctl")
