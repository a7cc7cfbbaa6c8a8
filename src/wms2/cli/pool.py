"""`wms2 pool start|stop|status`: the local pool daemon."""

from __future__ import annotations

import typer

from wms2.cli.common import HomeOpt, JsonOpt, console, fail, print_json, settings_for

# Each command imports the engine client (pydantic, the settings) itself: ``wms2 --help`` does not.

pool_app = typer.Typer(help="The local pool daemon (the local engine's schedd).", no_args_is_help=True)


@pool_app.command("start")
def start(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Start the daemon (no-op when it already runs)."""
    from wms2.engines.base import ScheddUnreachable
    from wms2.engines.local.client import ensure_pool_running

    settings = settings_for(home)
    try:
        answer = ensure_pool_running(settings)
    except ScheddUnreachable as exc:
        raise fail(str(exc)) from exc
    if json_out:
        print_json(answer)
    else:
        console.print(f"local pool running, pid {answer.get('pid')}, spool {answer.get('spool')}")


@pool_app.command("stop")
def stop(home: HomeOpt = None) -> None:
    """Stop the daemon; DAGs it runs are recovered when it starts again."""
    from wms2.engines.local.client import stop_pool

    settings = settings_for(home)
    console.print("local pool stopped" if stop_pool(settings) else "local pool was not running")


@pool_app.command("status")
def status(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Is the daemon running, on which port, with which DAGs."""
    from wms2.engines.local.client import pool_status

    settings = settings_for(home)
    info = pool_status(settings)
    if json_out:
        print_json(info)
        return
    if not info["running"]:
        console.print(f"local pool not running (spool {info['spool']})")
        raise typer.Exit(1)
    console.print(f"local pool running: pid {info['pid']}, port {info['port']}, sites {', '.join(info['sites'])}")
    for dag in info["active"]:
        console.print(f"  cluster {dag['cluster']}: {dag['state']} {dag['dag_file']}")


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the main app."""
    app.add_typer(pool_app, name="pool")
