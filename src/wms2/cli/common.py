"""Options and helpers shared by every command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from wms2.config import Settings, load_settings

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", envvar="WMS2_HOME", help="state directory (database, submit dirs, logs)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON output")]

console = Console()
err_console = Console(stderr=True)


def settings_for(home: Path | None) -> Settings:
    return load_settings(home)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=1, default=str) + "\n")


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)
