"""``wms2 fjr FILE [--json]``: what the FJR parser reads from a Framework Job Report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from wms2.sandbox.classify import classify

if TYPE_CHECKING:
    from wms2.sandbox.fjr import FjrReport

_console = Console()
_errors = Console(stderr=True)


def summary(report: FjrReport) -> dict[str, Any]:
    """The parser's reading as plain data (one FJR = one step)."""
    code = report.exit_code
    verdict = classify(code, report.error_message)
    return {
        "file": report.path,
        "steps": [
            {
                "wall_s": report.wall_s,
                "cpu_s": report.cpu_s,
                "threads": report.threads,
                "cpu_efficiency": report.cpu_efficiency,
                "peak_rss_mb": report.peak_rss_mb,
                "peak_vsize_mb": report.peak_vsize_mb,
                "events_processed": report.events_processed,
                "events_read": report.events_read,
                "events_written": report.events_written,
            }
        ],
        "input_files": [f.model_dump() for f in report.input_files],
        "output_files": [f.model_dump() for f in report.output_files],
        "skipped_files": report.skipped_files,
        "fallback_files": report.fallback_files,
        "exit_code": code,
        "errors": [e.model_dump() for e in report.errors],
        "classification": verdict.category,
    }


def _print_table(data: dict[str, Any]) -> None:
    step = data["steps"][0]
    table = Table(title=data["file"], show_header=False)
    for key, value in step.items():
        table.add_row(key, "-" if value is None else str(value))
    table.add_row("exit code", str(data["exit_code"]))
    table.add_row("classification", data["classification"])
    _console.print(table)
    files = Table(title="files")
    for col in ("direction", "LFN / PFN", "events", "runs:lumis"):
        files.add_column(col)
    for f in data["input_files"]:
        lumis = sum(len(v) for v in f["runs"].values())
        files.add_row("in", f["lfn"] or f["pfn"], str(f["events_read"]), f"{len(f['runs'])}:{lumis}")
    for f in data["output_files"]:
        lumis = sum(len(v) for v in f["runs"].values())
        files.add_row(f"out {f['module_label']}", f["lfn"] or f["pfn"], str(f["events"]), f"{len(f['runs'])}:{lumis}")
    _console.print(files)
    for err in data["errors"]:
        _console.print(f"[red]FrameworkError {err['exit_status']} {err['type']}[/red]: {err['message'][:2000]}")


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the main app."""

    @app.command("fjr")
    def fjr_command(
        file: Path = typer.Argument(..., help="Framework Job Report XML file"),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
    ) -> None:
        """Show what WMS2 reads from a cmsRun Framework Job Report."""
        from wms2.sandbox.fjr import FjrParseError, parse_fjr

        try:
            report = parse_fjr(file)
        except FileNotFoundError:
            _errors.print(f"error: {file}: no such file")
            raise typer.Exit(2) from None
        except FjrParseError as exc:
            verdict = classify(exc.exit_code)
            if as_json:
                payload = {
                    "file": str(file),
                    "error": str(exc),
                    "line": exc.line,
                    "column": exc.column,
                    "exit_code": exc.exit_code,
                    "classification": verdict.category,
                }
                print(json.dumps(payload, indent=1))
            _errors.print(f"error: {exc} (treated as exit code {exc.exit_code}, {verdict.category})")
            raise typer.Exit(1) from None
        except OSError as exc:
            _errors.print(f"error: cannot read {file}: {exc}")
            raise typer.Exit(2) from None
        data = summary(report)
        if as_json:
            print(json.dumps(data, indent=1))
        else:
            _print_table(data)
