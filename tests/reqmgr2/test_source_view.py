"""``wms2 requests --source reqmgr2`` stays readable in 80 columns and through a pipe (fast, no server)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from wms2.cli import common
from wms2.cli.dev_reqmgr2 import _print_source_view

LONG = "pdmvserv_task_HIG-RunIISummer20UL18wmLHEGEN-01234__v1_T_231201_123456_1234"  # a real-length name


def _row(name: str, reqmgr2: str, wms2: str | None, written: str | None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "team": "wms2-test", "reqmgr2_status": reqmgr2, "wms2_status": wms2,
            "written_status": written, "imported": wms2 is not None, "import_error": None, "last_error": None,
            **extra}


@pytest.mark.parametrize("teams", [["wms2-test"], ["wms2-test", "wms2-other"]])
def test_80_columns_whole_headers_and_statuses(monkeypatch: pytest.MonkeyPatch, teams: list[str]) -> None:
    out = io.StringIO()
    monkeypatch.setattr(common, "console", Console(file=out, width=80, force_terminal=False))
    rows = [_row(LONG, "aborted-completed", "resubmitting", "running-closed",
                 last_error="refused: ReqMgr2 https://cmsweb.cern.ch/reqmgr2/data/request/x: HTTP 403"),
            _row("short_name", "assigned", None, None)]
    _print_source_view(rows, "https://cmsweb.cern.ch/reqmgr2/data", teams)
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines), out.getvalue()
    headers = ["request", *(["team"] if len(teams) > 1 else []), "ReqMgr2", "WMS2", "written"]
    assert headers in [line.split() for line in lines], out.getvalue()
    first = next(line for line in lines if "aborted-completed" in line).split()
    assert first[-3:] == ["aborted-completed", "resubmitting", "running-closed"]  # never cut
    rule = next(i for i, line in enumerate(lines) if line.strip().startswith("─"))
    assert LONG in "".join(line.split()[0] for line in lines[rule + 1:] if line.strip())  # folded, whole
    text = " ".join(out.getvalue().split())
    assert f"{LONG}: refused: ReqMgr2 https://cmsweb.cern.ch/reqmgr2/data/request/x: HTTP 403" in text
    assert "short_name: not imported" in text
