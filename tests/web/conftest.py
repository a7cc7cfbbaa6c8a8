"""Browser-test fixtures: a real ``wms2 serve`` (SQLite, local engine, demo-sized settings) in a
subprocess, a seeded state (held request, a ban, hostile names and log tails), and Debian's headless
Chromium driven by Playwright.

Chromium must be installed (``scripts/ensure-chromium.sh``, which ``make test`` runs first): without it
these tests fail with that instruction rather than skip.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.seed import seed_database
from wms2.api.auth import create_token
from wms2.config import Settings
from wms2.core.demo import prepare
from wms2.db.session import Database

CHROMIUM = Path(os.environ.get("WMS2_CHROMIUM", "/usr/bin/chromium"))
# The machine's closed network: no background traffic, no GPU, a fresh profile (Playwright makes one).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STARTUP_TIMEOUT_S = 180.0  # start-up (migrations, pool daemon) on a loaded 2-core machine
LAPTOP = {"width": 1366, "height": 900}
WIDE = {"width": 2200, "height": 1200}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    settings: Settings
    tokens: dict[str, str]
    seeded: dict[str, Any]
    shots: Path

    def api(self, method: str, path: str, who: str = "operator", **kw: Any) -> httpx.Response:
        auth = {"Authorization": f"Bearer {self.tokens[who]}"}
        return httpx.request(method, f"{self.base}/api/v1{path}", headers=auth, timeout=30, **kw)


def _wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"wms2 serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("wms2 serve did not become healthy")


def _tokens(settings: Settings) -> dict[str, str]:
    """A viewer and a requestor token, made before the server starts (the operator's is the server's own)."""
    db = Database(settings.db_url)
    try:
        with db.session() as s:
            return {role: create_token(s, f"web-{role}", role, "tests")[1] for role in ("viewer", "requestor")}
    finally:
        db.dispose()


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh (make test does it) to install"
                    " Debian's chromium package")
    return CHROMIUM


@contextmanager
def serve(settings: Settings, log_path: Path) -> Iterator[str]:
    """``wms2 serve`` on ``settings.home`` (port ``settings.api.port``) in a subprocess until the block ends;
    yields its base URL once healthy.  The operator token is then in ``<home>/operator.token``."""
    log = log_path.open("wb")
    port = settings.api.port
    command = [sys.executable, "-m", "wms2.cli", "serve", "--home", str(settings.home), "--port", str(port)]
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        from wms2.engines.local_engine import stop_pool

        stop_pool(settings)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("web")
    home = root / "home"
    port = _free_port()
    settings = prepare(home, reset=True, overrides={"api": {"port": port}, "lifecycle": {"cycle_seconds": 0.5}})
    seeded = seed_database(settings, root / "dags")
    tokens = _tokens(settings)
    with serve(settings, root / "serve.log") as base:
        tokens["operator"] = (home / "operator.token").read_text().strip()  # printed once by wms2 serve
        shots = Path(os.environ.get("WMS2_WEB_SCREENSHOTS", root / "screenshots"))
        shots.mkdir(parents=True, exist_ok=True)
        yield Server(base, settings, tokens, seeded, shots)


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def login(browser: Any, server: Server, who: str, viewport: dict[str, int] = LAPTOP) -> Any:
    """A fresh browser context signed in through the login form; returns its page."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors
    page.goto(server.base + "/")
    page.wait_for_selector("#login-submit")
    page.fill("#token", server.tokens[who])
    page.click("#login-submit")
    page.wait_for_selector("#status-cards .card")
    return page
