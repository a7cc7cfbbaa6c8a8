"""``wms2 demo``: the end-to-end demo on the embedded defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from wms2.cli.common import JsonOpt, compact_table, console, err_console, fail
from wms2.core.demo_scenarios import SCENARIOS


def _table(rows: list[dict[str, Any]], elapsed: float) -> Table:
    table = compact_table("request", "status", "round", "WUs done\n/total", "running\nnodes", "events",
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
    source: Annotated[str, typer.Option(
        help="files (the samples) | reqmgr2 (through a real local ReqMgr2 under HOME/reqmgr2)")] = "files",
    data: Annotated[str, typer.Option(
        help="local (embedded catalog) | rucio (a real local Rucio server under HOME/rucio)")] = "local",
    reqmgr2_home: Annotated[Path | None, typer.Option(
        "--reqmgr2-home", help="with --source reqmgr2: use the ReqMgr2 of this directory (as `wms2 dev reqmgr2"
                               " start --home DIR`; started if needed, left running) instead of HOME/reqmgr2")] = None,
    events: Annotated[int | None, typer.Option(
        min=1, help="with --source reqmgr2: events per request instead of the sample's 20000 (quick runs)")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Run sample requests end to end on SQLite and the local engine, then report."""
    if source not in ("files", "reqmgr2"):
        raise fail(f"--source: unknown source {source!r} (choose files or reqmgr2)")
    if (reqmgr2_home is not None or events is not None) and source != "reqmgr2":
        raise fail("--reqmgr2-home and --events need --source reqmgr2")
    if data not in ("local", "rucio"):
        raise fail(f"--data: unknown data management {data!r} (choose local or rucio)")
    if scenario not in SCENARIOS:
        raise fail(f"--scenario: unknown scenario {scenario!r} (choose from {', '.join(SCENARIOS)})")
    from wms2.core.demo import run_demo  # deferred: the core, SQLAlchemy and the engine

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
        result = run_demo(home.absolute(), reset, timeout, progress, scenario=scenario, source=source,
                          data=data, reqmgr2_home=reqmgr2_home.absolute() if reqmgr2_home else None,
                          reqmgr2_events=events)
    except RuntimeError as exc:
        raise fail(str(exc)) from None
    finally:
        if live is not None:
            live.stop()
    if json_out:
        out: dict[str, Any] = {"requests": result.requests, "seconds": result.seconds}
        if result.reqmgr2 is not None:
            out["reqmgr2"] = result.reqmgr2
        if result.rucio is not None:
            out["rucio"] = result.rucio
        print(json.dumps(out))
    else:
        _print_report(result.requests, result.seconds)
        if result.rucio is not None:
            _print_rucio(result.rucio)
    raise typer.Exit(0 if result.ok else 1)


def _print_report(requests: list[dict[str, Any]], seconds: float) -> None:
    for r in requests:
        console.print(f"\n[bold]{r['name']}[/] — {r['status']}: {r['events_registered']} events registered, "
                      f"{r['blocks_archived']}/{r['blocks']} blocks archived", highlight=False)
        table = compact_table("round", "DAG", "status", "WUs", "jobs", "memory\nMB", "cores", "events\nper job",
                         "peak RSS\nMB", "CPU\neff", "events")
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


def _print_rucio(summary: dict[str, Any]) -> None:
    console.print(f"\n[bold]Rucio[/] {summary['url']} (account {summary['account']})", highlight=False)
    table = compact_table("block", "open", "files", "replicas (RSE state: n)", "rules (RSE expression: state)")
    for blocks in summary["datasets"].values():
        for b in blocks:
            table.add_row(b["block"], str(b["open"]), str(b["files"]),
                          "\n".join(f"{k}: {v}" for k, v in b["replicas"].items()),
                          "\n".join(f"{r['rse_expression']}: {r['state']}" for r in b["rules"]))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(demo)
