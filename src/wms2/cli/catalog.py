"""`wms2 catalog load FILE.json` and `wms2 catalog generate ...`: fill the embedded data catalog."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from wms2.cli.common import HomeOpt, JsonOpt, console, fail, print_json, settings_for
from wms2.services.catalog import CatalogError

if TYPE_CHECKING:
    from wms2.services.local_catalog import LoadSummary

catalog_app = typer.Typer(help="The embedded data catalog (local stand-in for DBS and Rucio).", no_args_is_help=True)


def _report(summary: LoadSummary, json_out: bool) -> None:
    if json_out:
        print_json(asdict(summary))
    else:
        console.print(f"{summary.dataset}: {summary.files} files in {summary.blocks} blocks, {summary.lumis} lumis,"
                      f" {summary.events} events, {summary.replicas} replicas")


@catalog_app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="dataset description (JSON)")],
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Load a dataset description into the local catalog."""
    try:
        doc = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise fail(f"{file}: {exc}") from None
    from wms2.db.session import Database
    from wms2.services.local_catalog import load_dataset

    db = Database(settings_for(home).db_url)
    try:
        with db.session() as session:
            summary = load_dataset(session, doc)
    except CatalogError as exc:
        raise fail(f"{file}: {exc}") from None
    finally:
        db.dispose()
    _report(summary, json_out)


def _run_numbers(value: str) -> list[int]:
    try:
        runs = [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter("comma-separated run numbers, e.g. 305064,306125") from None
    if not runs or any(r < 1 for r in runs):
        raise typer.BadParameter("need at least one positive run number")
    return runs


@catalog_app.command("generate")
def generate(
    dataset: Annotated[str, typer.Option(help="/Primary/Era-Proc-v1/TIER")],
    files: Annotated[int, typer.Option(min=1)],
    events_per_file: Annotated[int, typer.Option(min=0)],
    lumis_per_file: Annotated[int, typer.Option(min=1)],
    runs: Annotated[int, typer.Option(min=1, help="number of runs (numbered from 300000)")],
    sites: Annotated[str, typer.Option(help="comma-separated CMS site names")],
    seed: Annotated[int, typer.Option()] = 0,
    run_numbers: Annotated[str | None, typer.Option(help="explicit run numbers (comma-separated); overrides"
                                                         " --runs")] = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Generate a realistic synthetic dataset (deterministic for a seed) into the local catalog."""
    site_list = [s.strip() for s in sites.split(",") if s.strip()]
    run_spec: int | list[int] = _run_numbers(run_numbers) if run_numbers else runs
    from wms2.db.session import Database
    from wms2.services.local_catalog import generate_dataset

    db = Database(settings_for(home).db_url)
    try:
        with db.session() as session:
            summary = generate_dataset(session, dataset, files, events_per_file, lumis_per_file, run_spec,
                                       site_list, seed)
    except CatalogError as exc:
        raise fail(str(exc)) from None
    finally:
        db.dispose()
    _report(summary, json_out)


@catalog_app.command("show")
def show(
    dataset: Annotated[str, typer.Argument(help="dataset name")],
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Summarise a dataset of the local catalog."""
    from wms2.db.session import Database
    from wms2.services.local_catalog import LocalCatalog

    db = Database(settings_for(home).db_url)
    try:
        with db.session() as session:
            found = LocalCatalog(session).files(dataset)
    except CatalogError as exc:
        raise fail(str(exc)) from None
    finally:
        db.dispose()
    summary = {"dataset": dataset, "files": len(found), "events": sum(f.events for f in found),
               "lumis": sum(len(f.lumis) for f in found), "bytes": sum(f.size for f in found)}
    if json_out:
        print_json(summary)
    else:
        console.print(f"{dataset}: {summary['files']} files, {summary['events']} events, {summary['lumis']} lumis")


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the main app."""
    app.add_typer(catalog_app, name="catalog")
