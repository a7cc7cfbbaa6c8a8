"""Start-up guard: ``wms2 --help`` and the command modules import no server-side stack (test-speed.md).

Tests and operators run ``wms2 <cmd>`` as a new process; importing the API app (scipy, matplotlib,
FastAPI), SQLAlchemy or the settings for every call cost about 3 CPU-seconds.  Module sets, not times,
so machine load cannot make this flaky.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

#: Loaded only by the commands that use them, never for help or for parsing the command line.  (pydantic
#: is not in the list: typer itself imports it to coerce parameters.)
HEAVY = {"scipy", "matplotlib", "fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "httpx",
         "pydantic_settings", "numpy", "uproot"}
#: WMS2 modules that pull the stacks above in (the light ones, enums and the DAG parser, may load).
SERVER_SIDE = ("wms2.api", "wms2.config", "wms2.db", "wms2.core.service", "wms2.core.lifecycle",
               "wms2.engines.local", "wms2.planning", "wms2.validation", "wms2.cli.local_client")

_PROBE = """
import sys
from pathlib import Path
sys.argv = ["wms2", *{args!r}]
from wms2.cli import main
try:
    main()
except SystemExit:
    pass
print("\\n".join(sys.modules), file=sys.stderr)
"""


def _modules_after(args: list[str]) -> set[str]:
    out = subprocess.run([sys.executable, "-c", _PROBE.format(args=args)], capture_output=True, text=True,
                         check=True, timeout=300)
    return set(out.stderr.split())


@pytest.mark.parametrize("args", [["--help"], ["dag", "--help"], ["requests", "--help"], ["pool", "--help"]],
                         ids=" ".join)
def test_help_imports_no_server_side_stack(args: list[str]) -> None:
    modules = _modules_after(args)
    assert "wms2.cli" in modules
    heavy = {m.split(".")[0] for m in modules} & HEAVY
    assert not heavy, f"wms2 {' '.join(args)} imports {sorted(heavy)}"
    server = sorted(m for m in modules if m.startswith(SERVER_SIDE))
    assert not server, f"wms2 {' '.join(args)} imports {server[:10]}"


def test_a_command_that_needs_the_database_still_gets_it() -> None:
    """The guard can fail: a real command (``wms2 status``) imports the settings and SQLAlchemy."""
    modules = _modules_after(["status", "--home", "/nonexistent/wms2-home-for-import-test", "--json"])
    assert {"pydantic_settings", "sqlalchemy"} <= {m.split(".")[0] for m in modules}


def test_local_mode_reads_skip_the_api_app(tmp_path: Path) -> None:
    """``wms2 requests`` in local mode uses the API's models, not its app: FastAPI, the routers and the
    dashboard stay out of the process (``wms2.api`` imports ``create_app`` on first use)."""
    modules = _modules_after(["requests", "--home", str(tmp_path), "--json"])
    assert {"wms2.cli.local_client", "wms2.api.models"} <= modules
    loaded = sorted(modules & {"fastapi", "starlette", "wms2.api.app", "wms2.web", "jinja2"})
    assert not loaded, f"wms2 requests imports {loaded}"
