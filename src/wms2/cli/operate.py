"""Operator commands (local mode): errors, stop, release, fail, abort, restart, versions, bans, DAG hold."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select

from wms2.cli.common import HomeOpt, JsonOpt, console, fail, print_json, settings_for
from wms2.config import Settings
from wms2.core.errors import error_summary
from wms2.core.operator import ActionRefused, Operator, ReleaseOverrides, get_request, versions
from wms2.core.service import open_database
from wms2.core.site_bans import lift_ban
from wms2.db.session import Database
from wms2.db.tables import SiteBanRow
from wms2.domain.enums import CleanupPolicy
from wms2.domain.transitions import IllegalTransition
from wms2.engines.base import EngineError

ReasonOpt = Annotated[str, typer.Option("--reason", "-r", help="why (recorded in the audit trail)")]
bans_app = typer.Typer(help="Site bans.", no_args_is_help=True)
dagctl_app = typer.Typer(help="Pause or resume a request's running DAG.", no_args_is_help=True)


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _db(home: Path | None) -> tuple[Settings, Database]:
    settings = settings_for(home)
    try:
        return settings, open_database(settings)
    except RuntimeError as exc:
        raise fail(str(exc)) from None


def _operator(settings: Settings) -> Operator:
    from wms2.core.wiring import build_operator
    from wms2.engines.factory import make_engine

    if settings.engine.kind == "local":
        from wms2.engines.local_engine import ensure_pool_running

        ensure_pool_running(settings)
    return build_operator(settings, make_engine(settings))


def _act(home: Path | None, json_out: bool, action: Callable[[Any, Operator, datetime], Any],
         needs_engine: bool = True) -> Any:
    settings, db = _db(home)
    try:
        operator = _operator(settings) if needs_engine else None
        with db.session() as session:
            result = action(session, operator, datetime.now(UTC))
    except KeyError as exc:
        raise fail(str(exc.args[0]), code=4) from None
    except (ActionRefused, IllegalTransition) as exc:
        raise fail(str(exc), code=3) from None
    except EngineError as exc:
        raise fail(f"engine: {exc}", code=5) from None
    finally:
        db.dispose()
    return result


def _done(json_out: bool, payload: dict[str, Any], text: str) -> None:
    if json_out:
        print_json(payload)
    else:
        console.print(text, highlight=False)


def errors(name: str, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Failure summary by category, site, exit code and step; bad input files; log tails; rescues."""
    summary = _act(home, json_out, lambda s, _o, _n: error_summary(s, get_request(s, name)), needs_engine=False)
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


def stop(name: str, reason: ReasonOpt, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Clean stop: remove the DAGMan job; the request resumes from the rescue DAG."""
    _act(home, json_out, lambda s, o, n: o.stop(s, name, _who(), reason, n))
    _done(json_out, {"name": name, "status": "stopping"}, f"{name}: stopping")


def release(
    name: str, reason: ReasonOpt, home: HomeOpt = None, json_out: JsonOpt = False,
    memory: Annotated[int | None, typer.Option(help="override request_memory (MB)")] = None,
    exclude_file: Annotated[list[str] | None, typer.Option(help="input LFN to exclude")] = None,
) -> None:
    """Release a held request back to the queue (completed WUs are credited)."""
    overrides = ReleaseOverrides(memory_mb=memory, excluded_files=list(exclude_file or []))
    _act(home, json_out, lambda s, o, n: o.release(s, name, _who(), reason, n, overrides))
    _done(json_out, {"name": name, "status": "queued"}, f"{name}: released, queued")


def fail_request(name: str, reason: ReasonOpt, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Fail a request (terminal): remove its DAG, mark open blocks failed."""
    produced = _act(home, json_out, lambda s, o, n: o.fail(s, name, _who(), reason, n))
    _done(json_out, {"name": name, "status": "failed", "produced": produced}, f"{name}: failed; {produced}")


def abort(name: str, reason: ReasonOpt, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Abort a request (requestor cancel)."""
    _act(home, json_out, lambda s, o, n: o.abort(s, name, _who(), reason, n))
    _done(json_out, {"name": name, "status": "aborted"}, f"{name}: aborted")


def restart(
    name: str, reason: ReasonOpt, home: HomeOpt = None, json_out: JsonOpt = False,
    cleanup: Annotated[CleanupPolicy, typer.Option(help="what happens to the old version's outputs")] =
    CleanupPolicy.keep_until_replaced,
) -> None:
    """Catastrophic recovery: fail this version and submit processing version + 1."""
    new = _act(home, json_out, lambda s, o, n: o.restart(s, name, _who(), reason, n, cleanup))
    _done(json_out, {"name": name, "new_version": new}, f"{name}: restarted as {new}")


def show_versions(name: str, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """The version chain of a request."""
    chain = _act(home, json_out, lambda s, _o, _n: versions(s, name), needs_engine=False)
    if json_out:
        print_json(chain)
        return
    table = Table("name", "version", "status", "cleanup", "superseded by")
    for v in chain:
        table.add_row(v["name"], str(v["processing_version"]), v["status"], v["cleanup_policy"],
                      v["superseded_by"] or "")
    console.print(table)


@bans_app.command("list")
def bans_list(home: HomeOpt = None, json_out: JsonOpt = False,
              all_: Annotated[bool, typer.Option("--all", help="include lifted and expired bans")] = False) -> None:
    """Site bans in force (per workflow and system-wide)."""
    def query(session: Any, _o: Any, now: datetime) -> list[dict[str, Any]]:
        out = []
        for b in session.scalars(select(SiteBanRow).order_by(SiteBanRow.id)):
            active = b.removed_at is None and (b.expires_at is None or b.expires_at > now)
            if active or all_:
                out.append({"id": b.id, "site": b.site, "workflow_id": b.workflow_id, "reason": b.reason,
                            "expires_at": b.expires_at.isoformat() if b.expires_at else None, "active": active})
        return out

    rows = _act(home, json_out, query, needs_engine=False)
    if json_out:
        print_json(rows)
        return
    table = Table("id", "site", "workflow", "expires", "active", "reason")
    for r in rows:
        table.add_row(str(r["id"]), r["site"], str(r["workflow_id"] or "ALL"), r["expires_at"] or "", str(r["active"]),
                      r["reason"])
    console.print(table)


@bans_app.command("lift")
def bans_lift(ban_id: int, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Lift a site ban."""
    _act(home, json_out, lambda s, _o, n: lift_ban(s, ban_id, _who(), n), needs_engine=False)
    _done(json_out, {"id": ban_id, "lifted": True}, f"ban {ban_id} lifted")


@dagctl_app.command("hold")
def dag_hold(name: str, reason: ReasonOpt, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Hold the request's DAGMan job (stop submitting; keep state and the queue slot)."""
    _act(home, json_out, lambda s, o, _n: o.hold_dag(s, name, _who(), reason))
    _done(json_out, {"name": name, "dag": "halted"}, f"{name}: DAG held")


@dagctl_app.command("release")
def dag_release(name: str, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Release the request's held DAGMan job."""
    _act(home, json_out, lambda s, o, _n: o.release_dag(s, name, _who()))
    _done(json_out, {"name": name, "dag": "running"}, f"{name}: DAG released")


def register(app: typer.Typer) -> None:
    app.command()(errors)
    app.command()(stop)
    app.command()(release)
    app.command("fail")(fail_request)
    app.command()(abort)
    app.command()(restart)
    app.command("versions")(show_versions)
    app.add_typer(bans_app, name="bans")
    app.add_typer(dagctl_app, name="dagctl")
