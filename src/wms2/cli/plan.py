"""`wms2 plan NAME --dry-run`: preview the next round of a request without writing anything."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from wms2.cli.common import HomeOpt, JsonOpt, console, fail, print_json, settings_for

if TYPE_CHECKING:
    from wms2.db.session import Database
    from wms2.db.tables import RequestRow, WorkflowRow


def _preview_workflow(row: RequestRow) -> WorkflowRow:
    """A workflow as it would be created, for requests not yet validated (never added to the session)."""
    from wms2.db.tables import WorkflowRow
    from wms2.domain.enums import WorkflowStatus
    from wms2.planning.service import request_spec

    spec = request_spec(row)
    return WorkflowRow(
        id=0, request_id=row.id, request_name=row.name, input_dataset=spec.input_dataset,
        step_metrics={}, adaptive_params={}, current_round=0, next_first_event=spec.splitting.first_event,
        next_lumi=spec.splitting.first_lumi, category_throttles={}, status=WorkflowStatus.new,
    )


def plan_preview(db: Database, name: str, settings: Any) -> dict[str, Any]:
    from sqlalchemy import select

    from wms2.db.tables import RequestRow, WorkflowRow
    from wms2.planning.service import prepare_round
    from wms2.services.local_catalog import LocalCatalog

    with db.session() as session:
        row = session.scalar(select(RequestRow).where(RequestRow.name == name))
        if row is None:
            raise LookupError(f"no request named {name}")
        workflow = session.scalar(select(WorkflowRow).where(WorkflowRow.request_id == row.id))
        prepared = prepare_round(session, row, workflow or _preview_workflow(row), settings,
                                 LocalCatalog(session), dry_run=True)
        session.rollback()
        return prepared.summary()


def plan(
    name: Annotated[str, typer.Argument(help="request name")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="preview only (required: rounds are planned by the"
                                           " lifecycle)")] = False,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Preview the next round of a request: jobs, work units, blocks, nodes, resources."""
    if not dry_run:
        raise fail("only `wms2 plan NAME --dry-run` is available: real rounds are planned by the lifecycle loop")
    from wms2.db.session import Database
    from wms2.planning.render.quoting import RenderError
    from wms2.planning.round import PlanningError
    from wms2.services.catalog import CatalogError

    settings = settings_for(home)
    db = Database(settings.db_url)
    try:
        summary = plan_preview(db, name, settings)
    except LookupError as exc:
        raise fail(str(exc)) from None
    except (PlanningError, RenderError, CatalogError, ValueError) as exc:
        raise fail(f"cannot plan {name}: {exc}") from None
    finally:
        db.dispose()
    if json_out:
        print_json(summary)
        return
    console.print(f"[bold]{name}[/] round {summary['round']}: {summary['jobs']} jobs in {summary['work_units']}"
                  f" work units, {summary['nodes']} nodes ({summary['edges']} edges)")
    for block in summary["blocks"]:
        console.print(f"  block {block['index']}: {block['dataset']} ({block['work_units']} WUs)")
    proc = summary["resources"].get("Processing", {})
    console.print(f"  processing: {proc.get('cpus')} cores, {proc.get('memory_mb')} MB, {proc.get('disk_kb')} KB disk;"
                  f" events {summary['events']}, files {summary['files']}, work remaining: {summary['work_remaining']}")


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the main app."""
    app.command("plan")(plan)
