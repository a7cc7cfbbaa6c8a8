"""``wms2 watch NAME``: live progress of a request, one bar per round and per work unit of the current DAG.

Each frame is read through the client (the database, or the REST API with ``--server``): the request
detail for the rounds, the current DAG's live node view for the work units.  ``--once`` prints one
frame and exits (``--json`` then prints the frame's data).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from wms2.cli.client import ClientError, WmsClient
from wms2.cli.common import HomeOpt, JsonOpt, ServerOpt, TokenOpt, client, console, print_json
from wms2.domain.enums import TERMINAL_REQUEST_STATUSES

DEFAULT_INTERVAL_S = 2.0
DEFAULT_WU_SHOWN = 50  # work-unit bars per frame (a round can have thousands: the first page only)
BAR_WIDTH = 30
LIVE_DAG = ("ready", "submitted", "running", "halted")


def frame(c: WmsClient, name: str, wu_shown: int) -> dict[str, Any]:
    """One frame's data: request status, rounds, and the current DAG's work units (when it is live)."""
    detail = c.show(name)
    rounds = [{"round": r["round"], "dag_id": r["dag_id"], "status": r["status"], "done": r["work_units_done"],
               "total": r["work_units"]} for r in detail.get("rounds", [])]
    work_units: list[dict[str, Any]] = []
    current = (detail.get("workflow") or {}).get("current_dag_id")
    live = any(r["dag_id"] == current and r["status"] in LIVE_DAG for r in rounds)
    if live and wu_shown > 0:
        try:
            nodes = c.dag_nodes(name, wu_shown, 0, None)
        except ClientError:
            nodes = {"work_units": []}  # the DAG ended between the two reads: shown next frame
        for wu in nodes["work_units"]:
            inner = wu["nodes"]
            work_units.append({"work_unit": wu["node"], "status": wu["status"], "site": wu["site"],
                               "done": sum(1 for n in inner if n["status"] == "done"), "total": len(inner)})
    return {"name": detail["name"], "status": detail["status"], "current_dag_id": current, "rounds": rounds,
            "work_units": work_units}


def render(data: dict[str, Any]) -> Group:
    rounds = Table("round", "DAG", "status", "work units", "", title=f"{data['name']} — {data['status']}",
                   title_justify="left")
    for r in data["rounds"]:
        rounds.add_row(str(r["round"]), str(r["dag_id"]), r["status"], f"{r['done']}/{r['total']}",
                       ProgressBar(total=max(r["total"], 1), completed=r["done"], width=BAR_WIDTH))
    parts: list[Any] = [rounds]
    if data["work_units"]:
        wus = Table("work unit", "status", "site", "nodes done", "", title=f"DAG {data['current_dag_id']}",
                    title_justify="left")
        for w in data["work_units"]:
            wus.add_row(w["work_unit"], w["status"], w["site"] or "", f"{w['done']}/{w['total']}",
                        ProgressBar(total=max(w["total"], 1), completed=w["done"], width=BAR_WIDTH))
        parts.append(wus)
    return Group(*parts)


def watch(
    name: str, home: HomeOpt = None, server: ServerOpt = None, token: TokenOpt = None, json_out: JsonOpt = False,
    once: Annotated[bool, typer.Option("--once", help="print one frame and exit")] = False,
    interval: Annotated[float, typer.Option(min=0.2, help="seconds between refreshes")] = DEFAULT_INTERVAL_S,
    work_units: Annotated[int, typer.Option(min=0, help="work-unit bars shown")] = DEFAULT_WU_SHOWN,
) -> None:
    """Live progress bars per round and per work unit of a request (until it ends, or Ctrl-C)."""
    with client(home, server, token) as c:
        data = frame(c, name, work_units)
        if once or json_out:
            if json_out:
                print_json(data)
            else:
                console.print(render(data))
            return
        with Live(render(data), console=console, refresh_per_second=4) as live:
            try:
                while data["status"] not in {s.value for s in TERMINAL_REQUEST_STATUSES}:
                    time.sleep(interval)
                    data = frame(c, name, work_units)
                    live.update(render(data))
            except KeyboardInterrupt:
                return


def register(app: typer.Typer) -> None:
    app.command()(watch)
