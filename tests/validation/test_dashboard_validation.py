"""Starting a physics validation from the dashboard, in Debian's Chromium against a real ``wms2 serve``.

The server's home holds two completed requests whose GEN-SIM outputs (simulator files: the reference and
a 2 % shift of ``LeadJet_pt``) are registered in the local catalog, and one without outputs.  The operator
goes overview → request page → "Start a validation…", is refused (422, the side named) for the request
without outputs, starts the real one (this request as the reference), watches it finish without
reloading, and opens the report: it renders under its own CSP with every plot decoded, the shifted branch
first.  A viewer gets no button.
Screenshots: the server fixture's directory, plus a copy in ``/tmp/wms2-shots/`` (``WMS2_SHOTS``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.validation.conftest import Sets
from tests.validation.helpers import complete_requests, register_outputs
from tests.web import conftest as web
from tests.web.conftest import Server, login
from tests.web.seed import tiny_generation
from wms2.core.demo import prepare
from wms2.core.service import init_home
from wms2.core.workflow_manager import submit_documents

pytestmark = pytest.mark.slow
REF, NEW, EMPTY = "val_ref", "val_new", "val_empty"
DONE_TIMEOUT_MS = 240_000  # the comparison of 2 x 40,000 events on a loaded 2-core machine
UI_TIMEOUT_MS = 30_000
SHOTS = Path(os.environ.get("WMS2_SHOTS", "/tmp/wms2-shots"))
# Records Content-Security-Policy violations of every page (injected through the DevTools protocol, which
# the page's CSP does not govern).
CSP_PROBE = ("document.addEventListener('securitypolicyviolation', e => (window.__csp = window.__csp || [])"
             ".push(e.violatedDirective + ' ' + e.blockedURI));")

chromium = web.chromium
browser = web.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sets: Sets) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("validation-web")
    settings = prepare(root / "home", reset=True, overrides={"api": {"port": web._free_port()}})
    db = init_home(settings)
    try:
        with db.session() as session:
            submit_documents(session, [("", tiny_generation(n)) for n in (REF, NEW, EMPTY)], settings, "seed")
        complete_requests(db, settings, [REF, NEW, EMPTY])
        register_outputs(db, settings, REF, sets.ref)
        register_outputs(db, settings, NEW, sets.shifted)
    finally:
        db.dispose()
    tokens = web._tokens(settings)
    with web.serve(settings, root / "serve.log") as base:
        tokens["operator"] = (settings.home / "operator.token").read_text().strip()
        shots = root / "screenshots"
        shots.mkdir()
        yield Server(base, settings, tokens, {}, shots)


def _shot(page: Any, server: Server, name: str) -> None:
    path = server.shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


def _open_from_overview(page: Any, name: str) -> None:
    page.locator(f"tr[data-request={name}] a").first.click()
    page.wait_for_selector("#request-name")
    assert page.locator("#request-name").inner_text() == name


def _start(page: Any, other: str | None = None, pick: str | None = None, this_is_reference: bool = False) -> Any:
    """Open the start dialog, choose the other request (typed or picked) and the reference side, give a
    reason, Continue, Confirm."""
    page.click("[data-action=validate]")
    dialog = page.locator("dialog.validation-dialog")
    dialog.wait_for()
    options = dialog.locator("select[name=pick] option")
    page.wait_for_function("() => document.querySelectorAll('dialog select[name=pick] option').length > 1")
    texts = options.all_inner_texts()  # the prompt, then val_new's only peer with outputs: val_ref
    assert texts == ["— 1 request with registered outputs —", f"{REF} · completed · GEN-SIM · 2 files · WebTest"], texts
    if pick:
        dialog.locator("select[name=pick]").select_option(pick)
        assert dialog.locator("input[name=other]").input_value() == pick
    else:
        dialog.locator("input[name=other]").fill(other or "")
    if this_is_reference:
        dialog.locator("select[name=role]").select_option("ref")
    dialog.locator("textarea[name=reason]").fill("release validation")
    dialog.locator("[data-role=confirm]").click()  # continue
    assert "press confirm" in dialog.locator(".result.ok").inner_text().lower()
    dialog.locator("[data-role=confirm]").click()  # confirm
    return dialog


def test_operator_starts_a_validation_and_opens_its_report(server: Server, browser: Any, tmp_path: Path) -> None:
    page = login(browser, server, "operator")
    page.context.add_init_script(CSP_PROBE)
    page.reload()  # the session stays; the probe now watches the dashboard too
    page.wait_for_selector("#status-cards .card")
    _open_from_overview(page, NEW)
    page.locator("#validation-list", has_text="No validation of this request yet").wait_for(timeout=UI_TIMEOUT_MS)

    # Refused: the other side has no registered output; the message names the field and the input is marked.
    dialog = _start(page, other=EMPTY)
    refusal = dialog.locator(".result.err")
    refusal.wait_for(timeout=UI_TIMEOUT_MS)
    assert refusal.inner_text().startswith(f"Refused (422): ref: request {EMPTY} has no registered output file")
    assert "invalid" in (dialog.locator("input[name=other]").get_attribute("class") or "")
    _shot(page, server, "validation-01-refused")
    dialog.locator("button", has_text="Cancel").click()

    # Started: val_ref picked from the requests with outputs; this request (val_new) chosen as the
    # reference (the default is the other way round).  The first poll of the job
    # is answered as "running, 3 of 8 entry ranges" (the real answer, rewritten) so that the progress bar
    # shows whatever the machine's speed; every later poll is the server's own.
    rewritten: list[str] = []

    def first_poll_running(route: Any) -> None:
        if rewritten:
            route.continue_()
            return
        answer = route.fetch()
        body = {**answer.json(), "status": "running", "progress": {"stage": "scan", "done": 3, "total": 8}}
        rewritten.append(route.request.url)
        route.fulfill(response=answer, json=body)

    page.route("**/api/v1/validations/*?result=false", first_poll_running)
    dialog = _start(page, pick=REF, this_is_reference=True)
    assert dialog.locator("[data-role=preview]").inner_text() == f"Reference: {NEW} → new: {REF}"
    done = dialog.locator(".result.ok", has_text="Done: validation #")
    done.wait_for(timeout=UI_TIMEOUT_MS)
    vid = int(done.inner_text().split("#")[1].split()[0])
    dialog.locator("button", has_text="Close").click()

    # Live: the row walks to done without a reload, then shows the verdict and the report link.
    row = page.locator(f"tr[data-validation='{vid}']")
    row.wait_for(timeout=UI_TIMEOUT_MS)
    assert "release validation" in row.inner_text()
    progress = row.locator(".state .bar", has_text="3 / 8")
    progress.wait_for(timeout=UI_TIMEOUT_MS)
    assert row.locator(".state .stage").inner_text() == "comparing entry ranges"
    assert progress.get_attribute("aria-valuenow") == "43.8"  # 10 % for the headers + 90 % x 3/8
    _shot(page, server, "validation-02-running")
    assert rewritten == [f"{server.base}/api/v1/validations/{vid}?result=false"]
    page.locator(f"tr[data-validation='{vid}'][data-status=done]").wait_for(timeout=DONE_TIMEOUT_MS)
    assert row.locator(".verdict .badge").inner_text() == "different"
    _shot(page, server, "validation-03-request-done")
    api = server.api("GET", f"/validations/{vid}").json()
    assert api["ref"] == NEW and api["new"] == REF and api["created_by"] == "operator"
    assert api["result"]["branches"][0]["name"] == "LeadJet_pt"

    # The report: a new tab, served by the API with its own CSP; every plot decoded, the shifted branch first.
    with page.context.expect_page() as opened:
        row.locator("a[data-report]").click()
    report = opened.value
    problems: list[str] = []
    report.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
    report.on("pageerror", lambda exc: problems.append(str(exc)))
    report.wait_for_load_state("load")
    assert report.url == f"{server.base}/api/v1/validations/{vid}/report"
    report.wait_for_function("() => [...document.images].every(i => i.complete)")
    widths = report.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == len(api["result"]["branches"]) and all(w > 100 for w in widths), widths
    assert report.locator("h1 .verdict").inner_text() == "different"
    background = report.locator("h1 .verdict").evaluate("e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(248, 208, 208)"  # the report's <style>, allowed by its hash
    assert report.locator("figure figcaption").first.inner_text().startswith("GEN-SIM / Events / LeadJet_pt")
    report.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    _shot(report, server, "validation-04-report")
    assert report.evaluate("window.__csp || []") == [] and problems == []
    assert page.evaluate("window.__csp || []") == []
    assert [e for e in page.errors if "Failed to load resource" not in e] == []  # the 422 is logged as that
    # The probe does see violations (so the empty lists above mean something): an inline <style> is refused.
    page.evaluate("() => document.head.appendChild(Object.assign(document.createElement('style'),"
                  " {textContent: 'p {}'}))")
    page.wait_for_function("() => (window.__csp || []).some(v => v.startsWith('style-src'))")


def test_viewer_gets_no_start_button(server: Server, browser: Any) -> None:
    page = login(browser, server, "viewer")
    _open_from_overview(page, REF)
    page.wait_for_function("() => !document.getElementById('validation-list').textContent.startsWith('Loading')")
    assert page.locator("[data-action=validate]").count() == 0 and page.locator("[data-action]").count() == 0
    _shot(page, server, "validation-05-viewer")
