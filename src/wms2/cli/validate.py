"""``wms2 validate REF NEW``: compare two productions statistically (physics validation, issue 17)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from wms2.cli.common import HomeOpt, JsonOpt, console, fail, print_json, settings_for

#: Exit status of ``--strict`` when the verdict is 'different' (1 is an error, 2 a usage error).
DIFFERENT_EXIT = 3
SUMMARY_ROWS = 20

SideArg = Annotated[str, typer.Argument(help="request name (its registered outputs per tier), or ROOT files:"
                                             " a file, a directory, a quoted glob, or a comma-separated list")]


def validate(
    ref: SideArg,
    new: SideArg,
    html: Annotated[Path | None, typer.Option("--html", help="write the self-contained HTML report here")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="processes (default: validation.workers)")]
    = None,
    strict: Annotated[bool, typer.Option("--strict", help=f"exit {DIFFERENT_EXIT} when the verdict is 'different'")]
    = False,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Compare every numeric branch of REF and NEW (KS, chi2, moments, counts, NaN/inf); print the verdict."""
    from wms2.validation import ValidationError, looks_like_request
    from wms2.validation.compare import compare
    from wms2.validation.inputs import resolve

    settings = settings_for(home)
    cfg = settings.validation if workers is None else settings.validation.model_copy(update={"workers": workers})
    try:
        with ExitStack() as stack:
            session = None
            if looks_like_request(ref) or looks_like_request(new):
                from wms2.core.service import open_database

                db = open_database(settings)
                stack.callback(db.dispose)
                session = stack.enter_context(db.session())
            sides = [resolve(spec, settings.storage_root, session) for spec in (ref, new)]
        result = compare(sides[0], sides[1], cfg)
    except (ValidationError, RuntimeError) as exc:
        raise fail(str(exc)) from None
    if html is not None:
        from wms2.validation.report import render_html

        html.write_text(render_html(result, cfg.max_plots), encoding="utf-8")
    if json_out:
        print_json(result.model_dump(mode="json"))
    else:
        _summary(result)
    if strict and result.verdict == "different":
        raise typer.Exit(DIFFERENT_EXIT)


def _summary(result: object) -> None:
    from wms2.validation.model import ValidationResult

    assert isinstance(result, ValidationResult)
    console.print(f"[bold]{result.verdict}[/]: {result.ref} vs {result.new} "
                  f"({', '.join(f'{n} {v}' for v, n in result.counts.items())})", highlight=False)
    table = Table("branch", "tree", "verdict", "KS p", "chi2 p", "mean pull", "problems")
    for b in result.branches[:SUMMARY_ROWS]:
        table.add_row(b.name, b.tree, b.verdict, "-" if b.ks_p is None else f"{b.ks_p:.3g}",
                      "-" if b.chi2_p is None else f"{b.chi2_p:.3g}",
                      "-" if b.mean_z is None else f"{b.mean_z:+.2f}", "; ".join(b.problems))
    console.print(table)
    for t in result.trees:
        if t.problems:
            console.print(f"tree {t.group}/{t.name}: {'; '.join(t.problems)}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(validate)
