"""Admission and sites: ``queue``, ``sites``, ``drain SITE``, ``enable SITE`` (local or ``--server``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from wms2.cli.common import HomeOpt, JsonOpt, ReasonOpt, ServerOpt, TokenOpt, client, console, print_json
from wms2.domain.enums import SiteStatus

DEFAULT_QUEUE_ROWS = 100  # the API's default page (api.default_page_size)


def queue(
    home: HomeOpt = None, server: ServerOpt = None, token: TokenOpt = None, json_out: JsonOpt = False,
    limit: Annotated[int, typer.Option(min=1, help="rows shown")] = DEFAULT_QUEUE_ROWS,
    offset: Annotated[int, typer.Option(min=0, help="rows skipped")] = 0,
) -> None:
    """The admission queue in order (urgent first, priority descending, FIFO) and the active-DAG cap."""
    with client(home, server, token) as c:
        q = c.queue(limit, offset)
    if json_out:
        print_json(q)
        return
    console.print(f"{q['queue_depth']} queued; {q['active_dags']} of {q['max_active_dags']} DAG slots in use, "
                  f"{q['free_slots']} free", highlight=False)
    table = Table("#", "name", "priority", "urgent", "requestor", "waiting (h)")
    for e in q["items"]:
        table.add_row(str(e["position"]), e["name"], str(e["priority"]), "yes" if e["urgent"] else "",
                      e["requestor"], f"{e['waiting_seconds'] / 3600:.1f}")
    console.print(table)


def sites(
    home: HomeOpt = None, server: ServerOpt = None, token: TokenOpt = None, json_out: JsonOpt = False,
    status: Annotated[SiteStatus | None, typer.Option(help="only this status")] = None,
) -> None:
    """Sites with their status, slots and bans in force."""
    with client(home, server, token) as c:
        rows = c.sites(status)
    if json_out:
        print_json(rows)
        return
    table = Table("site", "tier", "status", "slots", "bans", "by", "reason")
    for r in rows:
        table.add_row(r["name"], str(r["tier"] if r["tier"] is not None else ""), r["status"],
                      str(r["total_slots"] if r["total_slots"] is not None else ""), str(r["active_bans"]),
                      r["updated_by"] or "", r["reason"] or "")
    console.print(table)


def _set(name: str, enable: bool, reason: str, home: HomeOpt, server: str | None, token: str | None,
         json_out: bool) -> None:
    with client(home, server, token) as c:
        row = c.site_status(name, enable, reason)
    if json_out:
        print_json(row)
    else:
        console.print(f"{row['name']}: {row['status']}", highlight=False, markup=False)


def drain(site: str, reason: ReasonOpt, home: HomeOpt = None, server: ServerOpt = None, token: TokenOpt = None,
          json_out: JsonOpt = False) -> None:
    """Drain a site: new DAGs do not use it; running work finishes."""
    _set(site, False, reason, home, server, token, json_out)


def enable(site: str, reason: ReasonOpt, home: HomeOpt = None, server: ServerOpt = None, token: TokenOpt = None,
           json_out: JsonOpt = False) -> None:
    """Enable a site again."""
    _set(site, True, reason, home, server, token, json_out)


def register(app: typer.Typer) -> None:
    app.command()(queue)
    app.command()(sites)
    app.command()(drain)
    app.command()(enable)
