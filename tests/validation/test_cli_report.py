"""``wms2 validate A B --json`` (the contract outside checks use) and the self-contained HTML report."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

from typer.testing import CliRunner

from tests.validation.conftest import Sets
from wms2.cli import app
from wms2.validation.report import REPORT_CSP, STYLE

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_cli_json_contract_and_html(sets: Sets, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WMS2_VALIDATION__WORKERS", "1")
    html = tmp_path / "report.html"
    ref = ",".join(str(p) for p in sets.ref)
    new = str(sets.shifted[0].parent.parent / "job*" / "out.root")  # a glob
    out = CliRunner().invoke(app, ["validate", ref, new, "--json", "--html", str(html), "--home", str(tmp_path)])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["verdict"] == "different"
    assert {"name", "verdict", "ks_p"} <= set(doc["branches"][0])
    assert doc["branches"][0]["name"] == "LeadJet_pt" and doc["branches"][0]["verdict"] == "different"
    assert all(b["verdict"] == "identical" for b in doc["branches"][1:])

    page = html.read_text()
    parser = _Tags()
    parser.feed(page)
    assert not any(tag == "script" for tag, _ in parser.tags)
    assert not any(k.startswith("on") for _, attrs in parser.tags for k in attrs)  # no inline handlers
    images = [attrs["src"] for tag, attrs in parser.tags if tag == "img"]
    assert len(images) == len(doc["branches"])
    for src in images:
        assert src is not None and src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG_MAGIC
    assert page.index("LeadJet_pt") < page.index("MET_pt")  # worst first
    assert f"<style>{STYLE}</style>" in page and "style-src 'sha256-" in REPORT_CSP


def test_cli_strict_exit_and_errors(sets: Sets, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WMS2_VALIDATION__WORKERS", "1")
    runner = CliRunner()
    same = runner.invoke(app, ["validate", str(sets.ref[0]), str(sets.same[0]), "--strict", "--home", str(tmp_path)])
    assert same.exit_code == 0 and "identical" in same.stdout
    diff = runner.invoke(app, ["validate", str(sets.ref[0]), str(sets.removed[0]), "--strict", "--home",
                               str(tmp_path)])
    assert diff.exit_code == 3 and re.search(r"MET_pt.*different", diff.stdout)
    missing = runner.invoke(app, ["validate", str(tmp_path / "none.root"), str(sets.ref[0]), "--home", str(tmp_path)])
    assert missing.exit_code == 1 and "none.root" in missing.output
