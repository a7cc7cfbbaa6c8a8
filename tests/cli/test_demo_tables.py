"""`wms2 demo`'s tables stay whole in an 80-column terminal or a pipe: no header or value cut short."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from wms2.cli import demo

NAME = "demo_DemoGen_Adaptive_261203_202942_8357"  # the length of a real demo request name


def _round(i: int) -> dict[str, Any]:
    return {"round": i, "dag_id": 1000 + i, "status": "completed", "work_units": 12, "jobs": 120,
            "request_memory_mb": 16000, "request_cpus": 8, "events_per_job": 14100000, "peak_rss_mb": 1999.9,
            "cpu_efficiency": 0.4537, "events_registered": 1200000}


def _render(monkeypatch: pytest.MonkeyPatch, draw: Any) -> str:
    out = io.StringIO()
    monkeypatch.setattr(demo, "console", Console(file=out, width=80, color_system=None))
    draw()
    return out.getvalue()


def test_report_tables_fit_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    report = [{"name": NAME, "status": "completed", "events_registered": 1200000, "blocks_archived": 4,
               "blocks": 4, "rounds": [_round(i) for i in range(4)], "last_transition": "all work done",
               "site_bans": [], "excluded_files": [], "rescues": []}]
    text = _render(monkeypatch, lambda: demo._print_report(report, 31.3))
    assert "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    header = " ".join(text.split())
    for word in ("round", "DAG", "status", "WUs", "jobs", "memory", "cores", "per job", "peak RSS", "CPU", "eff",
                 "events"):
        assert word in header, word
    assert "14100000" in text and "1999.9" in text and "completed" in text  # values whole too


def test_progress_table_folds_long_request_names(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"name": NAME + "_with_a_longer_suffix", "status": "completed", "round": 4, "wus_done": 10,
             "wus_total": 10, "running_nodes": 0, "events": 20000}]
    text = _render(monkeypatch, lambda: demo.console.print(demo._table(rows, 31.3)))
    assert "…" not in text and all(len(line) <= 80 for line in text.splitlines())
    body = text.split("─" * 10)[-1].strip("─\n").splitlines()
    first_column = "".join(line.split(" ", 1)[0] for line in body)
    assert first_column == NAME + "_with_a_longer_suffix"  # folded over two lines, every character kept


def test_show_rounds_table_fits_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    from wms2.cli import requests

    rounds = [{"round": i, "dag_id": 1000 + i, "status": "completed", "work_units_done": 120, "work_units": 120,
               "params": {"request_memory_mb": 16000, "request_cpus": 8, "events_per_job": 14100000},
               "metrics": {"peak_rss_mb": 1999.9, "cpu_efficiency": 0.4537}} for i in range(3)]
    out = io.StringIO()
    monkeypatch.setattr(requests, "console", Console(file=out, width=80, color_system=None))
    requests.console.print(requests._rounds_table(rounds))
    text = out.getvalue()
    assert "…" not in text and all(len(line) <= 80 for line in text.splitlines())
    assert "14100000" in text and "120/120" in text and "0.4537" in text
