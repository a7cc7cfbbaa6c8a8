"""``wms2 demo``: the end-to-end demo on the embedded defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from wms2.cli.common import JsonOpt, console, err_console, fail
from wms2.core.demo import run_demo
from wms2.core.demo_scenarios import SCENARIOS


def _table(rows: list[dict[str, Any]], elapsed: float) -> Table:
    table = Table("request", "status", "round", "WUs done/total", "running nodes", "events",
                  title=f"WMS2 demo — {elapsed:5.1f} s")
    for r in rows:
        table.add_row(r["name"], r["status"], str(r["round"]), f"{r['wus_done']}/{r['wus_total']}",
                      str(r["running_nodes"]), str(r["events"]))
    return table


def demo(
    home: Annotated[Path, typer.Option("--home", envvar="WMS2_HOME", help="state directory")] = Path(".wms2-demo"),
    reset: Annotated[bool, typer.Option("--reset/--no-reset", help="wipe a previous demo home")] = True,
    timeout: Annotated[float, typer.Option(help="give up after this many seconds")] = 900.0,
    scenario: Annotated[str, typer.Option(help="default | faults | held")] = "default",
    json_out: JsonOpt = False,
) -> None:
    """Run sample requests end to end on SQLite and the local engine, then report."""
    if scenario not in SCENARIOS:
        raise fail(f"--scenario: unknown scenario {scenario!r} (choose from {', '.join(SCENARIOS)})")
    live = None if json_out else Live(_table([], 0.0), console=console, refresh_per_second=4)

    def progress(rows: list[dict[str, Any]], elapsed: float) -> None:
        if live is not None:
            live.update(_table(rows, elapsed))
        else:
            err_console.print(" | ".join(f"{r['name'][:24]} {r['status']} r{r['round']} "
                                          f"{r['wus_done']}/{r['wus_total']}" for r in rows), highlight=False)

    try:
        if live is not None:
            live.start()
        result = run_demo(home.absolute(), reset, timeout, progress, scenario=scenario)
    except RuntimeError as exc:
        raise fail(str(exc)) from None
    finally:
        if live is not None:
            live.stop()
    if json_out:
        print(json.dumps({"requests": result.requests, "seconds": result.seconds}))
    else:
        _print_report(result.requests, result.seconds)
    raise typer.Exit(0 if result.ok else 1)


def _print_report(requests: list[dict[str, Any]], seconds: float) -> None:
    for r in requests:
        console.print(f"\n[bold]{r['name']}[/] — {r['status']}: {r['events_registered']} events registered, "
                      f"{r['blocks_archived']}/{r['blocks']} blocks archived", highlight=False)
        table = Table("round", "DAG", "status", "WUs", "jobs", "memory MB", "cores", "events/job",
                      "peak RSS MB", "CPU eff", "events")
        for rd in r["rounds"]:
            table.add_row(*(str(rd[k]) if rd[k] is not None else "" for k in (
                "round", "dag_id", "status", "work_units", "jobs", "request_memory_mb", "request_cpus",
                "events_per_job", "peak_rss_mb", "cpu_efficiency", "events_registered")))
        console.print(table)
        console.print(f"  last: {r['last_transition']}", highlight=False)
        if r["site_bans"] or r["excluded_files"] or r["rescues"]:
            console.print(f"  site bans: {', '.join(r['site_bans']) or '-'}; excluded files: "
                          f"{', '.join(r['excluded_files']) or '-'}; rescue DAGs: {r['rescues'] or '-'}",
                          highlight=False)
    console.print(f"\ndemo wall time: {seconds:.1f} s")


def register(app: typer.Typer) -> None:
    app.command()(demo)
