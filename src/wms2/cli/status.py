"""``wms2 status``: who owns the lifecycle (the lease), the local pool daemon, the database revision."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from wms2.cli.common import HomeOpt, JsonOpt, console, fail, print_json, settings_for

if TYPE_CHECKING:
    from wms2.config import Settings


def collect(settings: Settings) -> dict[str, Any]:
    """Everything ``wms2 status`` shows, as one JSON-able dict."""
    from wms2.core.db_outage import hide_password
    from wms2.core.ownership import read_lease
    from wms2.core.service import open_database
    from wms2.db.migrate import current_revision, head_revision

    db = open_database(settings)
    try:
        lease = read_lease(db)
        revision = current_revision(db.engine)
        single = db.engine.dialect.name == "sqlite"
    finally:
        db.dispose()
    return {
        "home": str(settings.home),
        "database": {"url": hide_password(settings.db_url), "revision": revision, "code_revision": head_revision(),
                     "single_process": single},
        "lifecycle": {"owner": lease.model_dump(mode="json") if lease is not None else None,
                      "lease_seconds": settings.ownership.lease_seconds},
        "pool": _pool(settings),
    }


def _pool(settings: Settings) -> dict[str, Any]:
    if settings.engine.kind != "local":
        return {"engine": settings.engine.kind, "running": None}
    from wms2.engines.local_engine import pool_status

    info = pool_status(settings)
    return {"engine": "local", "running": info["running"], "pid": info.get("pid"), "port": info.get("port"),
            "active_dags": len(info.get("active", [])), "spool": str(settings.pool_dir)}


def _owner_line(owner: dict[str, Any] | None) -> str:
    if owner is None:
        return "lifecycle owner: none yet (no process ever ran the lifecycle on this database)"
    where = f"host {owner['host']}, pid {owner['pid']}, since {owner['acquired_at'][:19]} (`wms2 {owner['command']}`)"
    if owner["state"] == "live":
        return f"lifecycle owner: {where}; lease token {owner['token']} live until {owner['expires_at'][:19]}"
    return f"lifecycle owner: none live; last {where}, lease {owner['state']}"


def status(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Who owns the lifecycle, whether the local pool daemon runs, and the database revision."""
    settings = settings_for(home)
    try:
        data = collect(settings)
    except RuntimeError as exc:
        raise fail(str(exc)) from None
    if json_out:
        print_json(data)
        return
    db, pool = data["database"], data["pool"]
    mode = "single process (SQLite)" if db["single_process"] else "stand-by processes allowed"
    console.print(f"database {db['url']}: revision {db['revision']} (code {db['code_revision']}); {mode}",
                  highlight=False)
    console.print(_owner_line(data["lifecycle"]["owner"]), highlight=False)
    if pool["running"] is None:
        console.print(f"engine {pool['engine']} (no local pool daemon)", highlight=False)
    elif pool["running"]:
        console.print(f"local pool daemon: running, pid {pool['pid']}, port {pool['port']},"
                      f" {pool['active_dags']} active DAGs (stop with `wms2 pool stop`)", highlight=False)
    else:
        console.print("local pool daemon: not running", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(status)
