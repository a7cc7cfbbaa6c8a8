"""The HTML report in a real browser (Debian's Chromium through Playwright), served with its own strict
Content-Security-Policy: every plot decodes and shows, the style applies, nothing is blocked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.validation.conftest import Sets
from wms2.validation import from_files
from wms2.validation.compare import compare
from wms2.validation.report import REPORT_CSP, render_html

CHROMIUM = Path(os.environ.get("WMS2_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPORT_URL = "http://wms2.test/api/v1/validations/1/report"


@pytest.mark.slow
def test_report_renders_plots_under_its_csp(sets: Sets, cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh (make test does it)")
    from playwright.sync_api import sync_playwright

    result = compare(from_files([str(sets.ref[0])]), from_files([str(sets.shifted[0])]), cfg)
    page_html = render_html(result, max_plots=50)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.route("**/*", lambda route: route.fulfill(
                status=200, body=page_html,
                headers={"content-type": "text/html; charset=utf-8", "content-security-policy": REPORT_CSP}))
            page.goto(REPORT_URL)
            widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            assert len(widths) == len(result.branches) and all(w > 100 for w in widths), widths
            verdict = page.locator("h1 .verdict")
            assert verdict.inner_text() == "different"
            background = verdict.evaluate("e => getComputedStyle(e).backgroundColor")
            assert background == "rgb(248, 208, 208)"  # the inline <style>, allowed by its hash
            caption = page.locator("figure").first.locator("figcaption").inner_text()
            assert caption.startswith("files / Events / LeadJet_pt")
            page.screenshot(path=os.environ.get("WMS2_REPORT_SHOT", str(tmp_path / "report.png")), full_page=True)
            assert problems == []
        finally:
            browser.close()
