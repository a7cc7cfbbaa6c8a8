"""The dashboard in a real headless Chromium against a real ``wms2 serve`` (issue 16 acceptance).

One module-scoped server and browser; the tests run in file order and save a screenshot of each page
under the server fixture's output directory (``WMS2_WEB_SCREENSHOTS`` to choose it)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.web.conftest import WIDE, Server, login
from tests.web.seed import GRID_WORK_UNITS, XSS_CAMPAIGN, XSS_LOG, tiny_generation

pytestmark = pytest.mark.slow
LIVE = "web_live"
LIVE_TIMEOUT_MS = 150_000  # the tiny request on the local engine; generous for a loaded 2-core machine
UI_TIMEOUT_MS = 30_000


def _shot(page: Any, server: Server, name: str) -> None:
    page.wait_for_timeout(300)  # let the last chart frame paint
    page.screenshot(path=str(server.shots / f"{name}.png"), full_page=True)


def _no_script_errors(page: Any) -> None:
    # A 404 answered to a fetch (e.g. no validations endpoint) is logged by Chromium; script errors are not ok.
    bad = [e for e in page.errors if "Failed to load resource" not in e]
    assert not bad, bad


def _act(page: Any, button: str, reason: str, fill: dict[str, str] | None = None) -> str:
    """Open an action dialog, give a reason (and fields), continue, confirm; return the shown result."""
    page.click(button)
    dialog = page.locator("dialog.action-dialog")
    dialog.wait_for()
    for name, value in (fill or {}).items():
        dialog.locator(f"[name={name}]").fill(value)
    dialog.locator("textarea[name=reason]").fill(reason)
    dialog.locator("[data-role=confirm]").click()  # continue
    dialog.locator("[data-role=confirm]").click()  # confirm
    result = dialog.locator(".result.ok", has_text="Done")
    result.wait_for(timeout=UI_TIMEOUT_MS)
    text = result.inner_text()
    dialog.locator("button", has_text="Close").click()
    return text


def test_login_page_without_session_and_headers(server: Server) -> None:
    r = httpx.get(server.base + "/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    page = httpx.get(server.base + "/login")
    assert page.status_code == 200 and 'name="token"' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    shell = httpx.get(server.base + "/static/index.html").text
    assert "http://" not in shell and "https://" not in shell  # nothing loaded from the internet


def test_operator_sees_live_completion_and_acts(server: Server, browser: Any) -> None:
    submitted = server.api("POST", "/requests", json=tiny_generation(LIVE, 200))
    assert submitted.status_code == 201, submitted.text
    started = time.monotonic()
    page = login(browser, server, "operator")
    _shot(page, server, "01-login-overview")
    # The overview updates without reload: the new request walks to completed in front of us.
    row = page.locator(f"tr[data-request={LIVE}]")
    row.wait_for(timeout=UI_TIMEOUT_MS)
    row.locator(".badge", has_text="completed").wait_for(timeout=LIVE_TIMEOUT_MS)
    assert "200 / 200 events" in row.inner_text()
    print(f"{LIVE} completed {time.monotonic() - started:.0f} s after submission")
    _shot(page, server, "02-overview-live-completed")

    # A request page with its round charts drawn from data.
    page.click("tr[data-request=web_rounds] a")
    page.wait_for_selector("#request-name")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('chart-memory'))"
                           " && Chart.getChart(document.getElementById('chart-err-category'))")
    drawn = page.evaluate("""() => ['memory', 'cores', 'events', 'cpu', 'throughput', 'err-category', 'err-site',
        'err-exit', 'err-time'].map(k => Chart.getChart(document.getElementById('chart-' + k)).data.datasets[0]
        .data.filter(v => v !== null).length)""")
    assert drawn[:5] == [3, 3, 3, 3, 3] and all(n > 0 for n in drawn[5:]), drawn
    _shot(page, server, "03-request-rounds")

    # The DAG view: every work unit a cell; one opens its nodes, read from DAGMan's files.
    started = time.monotonic()
    page.click("#open-dag")
    page.wait_for_function(f"() => document.querySelectorAll('#wu-grid .wu').length === {GRID_WORK_UNITS}")
    drawn_ms = 1000 * (time.monotonic() - started)
    print(f"DAG view of {GRID_WORK_UNITS} work units drawn {drawn_ms:.0f} ms after the click")
    page.click("[data-wu=mg_000003]")
    page.wait_for_selector("#wu-name")
    nodes = page.locator("#wu-detail tr[data-node]")
    assert nodes.count() == 5 and "50660" in page.locator("#wu-detail").inner_text()
    _shot(page, server, "04-dag-view")

    # Release the held request; the audit trail shows who and why.
    page.goto(f"{server.base}/#/request/web_held")
    page.wait_for_selector("[data-action=release]")
    assert "Done" in _act(page, "[data-action=release]", "memory fixed by the operator", {"memory_mb": "3000"})
    audit = page.locator("#audit tr", has_text="released: memory fixed by the operator")
    audit.wait_for(timeout=UI_TIMEOUT_MS)
    assert "operator" in audit.locator(".who-cell").inner_text()
    _shot(page, server, "05-request-released")

    # Lift the ban from the sites page.
    page.click("[data-nav=sites]")
    ban = page.locator(f"tr[data-ban='{server.seeded['ban_id']}']")
    ban.wait_for()
    _shot(page, server, "06-sites-before-lift")
    assert "lifted" in _act(page, f"tr[data-ban='{server.seeded['ban_id']}'] [data-action=lift]", "site fixed")
    ban.wait_for(state="detached", timeout=UI_TIMEOUT_MS)
    bans = server.api("GET", "/sites/bans?active=false").json()["items"]
    lifted = next(b for b in bans if b["id"] == server.seeded["ban_id"])
    assert lifted["removed_by"] == "operator" and lifted["failure_data"]["lift_reason"] == "site fixed"
    _no_script_errors(page)


def test_user_data_renders_as_text(server: Server, browser: Any) -> None:
    page = login(browser, server, "operator")
    page.fill("#search", "web_held")
    cell = page.locator("tr[data-request=web_held] td", has_text="<img")
    cell.wait_for(timeout=UI_TIMEOUT_MS)
    assert XSS_CAMPAIGN in cell.inner_text()
    page.goto(f"{server.base}/#/request/web_held")
    page.locator("details.sample summary").first.click()
    tail = page.locator("pre.log-tail").first
    tail.wait_for()
    assert XSS_LOG in tail.inner_text()
    assert page.locator("pre.log-tail script").count() == 0 and page.locator("img[src=x]").count() == 0
    assert page.evaluate("window.__xss") is None
    _shot(page, server, "07-hostile-text")


def test_viewer_sees_no_buttons(server: Server, browser: Any) -> None:
    page = login(browser, server, "viewer")
    assert page.locator("[data-role-badge=viewer]").count() == 1
    for label, hash_, ready in (("request", "#/request/web_held", "#audit tr"), ("sites", "#/sites", "tr[data-site]"),
                                ("dag", f"#/dag/{server.seeded['grid_dag']}", "#wu-grid .wu")):
        page.goto(f"{server.base}/{hash_}")
        page.wait_for_selector(ready)
        page.wait_for_timeout(500)
        assert page.locator("[data-action]").count() == 0, hash_
        _shot(page, server, f"08-viewer-{label}")


def test_forged_form_post_is_refused(server: Server, browser: Any) -> None:
    page = login(browser, server, "operator")
    # A plain HTML form (what a forging page can send) carries the session cookie but no CSRF header.
    with page.expect_navigation(url="**/restart"):
        page.evaluate("""() => { const f = document.createElement('form'); f.method = 'post';
            f.action = '/api/v1/requests/web_rounds/restart';
            const i = document.createElement('input'); i.name = 'reason'; i.value = 'forged'; f.appendChild(i);
            document.body.appendChild(f); f.submit(); }""")
    assert "CSRF" in page.locator("body").inner_text()
    answer = page.context.request.post(f"{server.base}/api/v1/sites/bans/{server.seeded['ban_id']}/lift",
                                       data={"reason": "forged"})
    assert answer.status == 403
    restarted = server.api("GET", "/requests/web_rounds").json()
    assert restarted["superseded_by_request"] is None


def test_wide_monitor(server: Server, browser: Any) -> None:
    page = login(browser, server, "operator", WIDE)
    page.wait_for_timeout(500)
    _shot(page, server, "09-overview-wide")
    page.goto(f"{server.base}/#/request/web_rounds")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('chart-memory'))")
    _shot(page, server, "10-request-wide")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDE["width"], width
