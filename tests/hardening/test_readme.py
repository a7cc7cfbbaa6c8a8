"""Issue 12 defect 7: the README's commands and URLs work.

Every ``wms2 ...`` command the README shows (code blocks and inline code) exists, with every option it
mentions; the safe ones (init, submit, requests, show, run --once) are run in order on a temporary home;
every API URL it names answers (never 404); its ``make`` targets exist; its settings example loads.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from wms2.api import create_app
from wms2.cli import app
from wms2.config import load_settings
from wms2.db.session import Database

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
runner = CliRunner()
WIDE = {"COLUMNS": "250", "NO_COLOR": "1"}


def _code_lines() -> list[str]:
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", README, flags=re.S):
        lines += [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]
    return lines


def _commands() -> list[str]:
    """Every wms2 command line shown: code-block lines and inline `wms2 ...` code, split on ' | wms2 '."""
    shown = [line for line in _code_lines() if line.startswith("wms2 ")]
    shown += re.findall(r"`(wms2 [^`]+)`", README)
    commands = []
    for line in shown:
        commands += [c if c.startswith("wms2 ") else f"wms2 {c}" for c in line.split(" | wms2 ")]
    return commands


def _expand(command: str) -> list[tuple[list[str], list[str]]]:
    """``wms2 stop|release NAME -r x`` -> [(["stop"], ["-r"]), (["release"], ["-r"])]."""
    words = command.split()[1:]
    path: list[list[str]] = []
    for word in words:
        if not re.fullmatch(r"[a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)*", word):
            break
        path.append(word.split("|"))
    options = re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", command)
    expanded: list[list[str]] = [[]]
    for alternatives in path:
        expanded = [[*p, a] for p in expanded for a in alternatives]
    return [(p, options) for p in expanded]


def test_the_readme_shows_commands() -> None:
    assert len(_commands()) >= 20


@pytest.mark.parametrize("command", sorted(set(_commands())))
def test_every_command_and_option_exists(command: str) -> None:
    for path, options in _expand(command):
        result = runner.invoke(app, [*path, "--help"], env=WIDE)
        assert result.exit_code == 0, f"`wms2 {' '.join(path)}` does not exist: {result.output[-300:]}"
        missing = [o for o in options if o not in result.output]
        assert missing == [], f"`wms2 {' '.join(path)}` has no option {missing}"


def test_make_targets_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = {t for line in _code_lines() + re.findall(r"`(make [a-z-]+)`", README)
               for t in re.findall(r"^make ([a-z-]+)", line)}
    assert targets >= {"demo", "test", "bench"}
    for target in targets:
        assert re.search(rf"^{target}:", makefile, flags=re.M), f"Makefile has no target {target}"


def test_the_settings_example_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    [example] = re.findall(r"`(WMS2_[A-Z_]+=\d+)`", README)
    key, value = example.split("=")
    monkeypatch.setenv(key, value)
    assert load_settings(tmp_path).admission.max_active_dags == int(value)


def test_the_api_urls_answer(settings: object, tmp_path: Path) -> None:
    """Every URL path the README names exists: the public ones answer 200 without credentials, the others
    ask for them (401), none is a 404."""
    from wms2.db.base import Base

    db = Database(f"sqlite:///{tmp_path / 'readme.db'}")
    Base.metadata.create_all(db.engine)
    urls = set(re.findall(r"`(/[a-z0-9/._-]*)`", README)) - {"/api/v1"}  # the prefix, named as such
    assert {"/api/v1/docs", "/api/v1/openapi.json", "/docs", "/openapi.json", "/api/v1/health"} <= urls
    with TestClient(create_app(load_settings(tmp_path), db)) as client:
        for url in sorted(urls):
            r = client.get(url)
            assert r.status_code in (200, 401), f"{url}: HTTP {r.status_code}"
        assert client.get("/docs").url.path == "/api/v1/docs"
        assert client.get("/openapi.json").json()["info"]["title"] == "WMS2"
    db.dispose()


@pytest.mark.slow
def test_the_safe_commands_run_in_order(tmp_path: Path, fixtures_dir: Path) -> None:
    """The "Using it" block, run as written (home and request file replaced by temporary ones)."""
    home = tmp_path / "wms2"
    request = tmp_path / "request.json"
    shutil.copy(fixtures_dir / "reqmgr2" / "StepChainRequestDump.json", request)
    safe = ("init", "submit", "requests", "show", "run")
    lines = [line for line in _code_lines()
             if line.startswith("wms2 ") and line.split()[1] in safe and "--from-reqmgr" not in line]
    assert [line.split()[1] for line in lines] == list(safe)
    name = ""
    try:
        for line in lines:
            for variant in _variants(line):
                args = [str(home) if a == "~/wms2" else str(request) if a == "request.json" else name
                        if a == "NAME" else a for a in variant.split()[1:]]
                result = runner.invoke(app, args, env=WIDE)
                assert result.exit_code == 0, f"{variant}: {result.output[-500:]}"
                if args[0] == "submit":
                    name = result.stdout.split()[0]
    finally:
        from wms2.engines.local_engine import stop_pool

        stop_pool(load_settings(home))


def _variants(line: str) -> list[str]:
    """``cmd [--a x] [--b]`` -> the command without the optional parts, and with all of them (only the
    latter for ``run``: without ``--once`` it is the service loop, which never returns)."""
    bare = re.sub(r"\s*\[[^\]]*\]", "", line)
    full = re.sub(r"\[([^\]]*)\]", r"\1", line)
    return [full] if bare == full or line.split()[1] == "run" else [bare, full]
