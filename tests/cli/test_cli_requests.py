"""The CLI contract of the foundation: init, submit, requests --json, show --json, run --once."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from wms2.cli import app

runner = CliRunner()


def wms2(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_init_submit_show(tmp_path: Path, fixtures_dir: Path) -> None:
    home = str(tmp_path / "h")
    code, out, _ = wms2("init", "--home", home)
    assert code == 0 and "ready" in out
    assert wms2("init", "--home", home)[0] == 0  # idempotent
    files = sorted(str(p) for p in (fixtures_dir / "reqmgr2").glob("*.json"))
    code, out, err = wms2("submit", "--home", home, *files)
    assert code == 0, err
    names = out.split()
    assert len(names) == 6 and "StepChain_Tasks_HG2011_Val_201029_112731_6371" in names
    code, out, _ = wms2("requests", "--home", home, "--json")
    listed = json.loads(out)
    assert {r["name"] for r in listed} == set(names) and {r["status"] for r in listed} == {"submitted"}
    try:
        assert wms2("run", "--home", home, "--once")[0] == 0
    finally:
        from wms2.config import load_settings
        from wms2.engines.local_engine import stop_pool

        stop_pool(load_settings(home))
    code, out, _ = wms2("show", "StepChain_Tasks_HG2011_Val_201029_112731_6371", "--home", home, "--json")
    detail = json.loads(out)
    assert detail["status"] == "queued"
    assert [t["to"] for t in detail["status_transitions"]] == ["submitted", "queued"]
    assert detail["workflow"]["status"] == "new"
    code, out, _ = wms2("requests", "--home", home, "--status", "queued", "--json")
    assert len(json.loads(out)) == 6


def test_bad_document_exits_nonzero_and_names_fields(tmp_path: Path, fixtures_dir: Path) -> None:
    home = str(tmp_path / "h")
    wms2("init", "--home", home)
    doc = json.loads((fixtures_dir / "reqmgr2" / "TaskChainRequestDump.json").read_text())
    doc["RequestName"] = "evil\nname"
    doc["Task1"]["ProcessingString"] = "x$(y)"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    good = fixtures_dir / "reqmgr2" / "ReRecoRequestDump.json"
    code, out, err = wms2("submit", "--home", home, str(good), str(bad))
    assert code != 0
    assert "bad: RequestName" in err and "Task1.ProcessingString" in err and "nothing was stored" in err
    assert json.loads(wms2("requests", "--home", home, "--json")[1]) == []
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    code, out, _ = wms2("submit", "--home", home, str(broken), "--json")
    assert code != 0 and "not valid JSON" in json.loads(out)["errors"][0]["message"]


def test_uninitialised_home_is_refused(tmp_path: Path) -> None:
    code, _, err = wms2("requests", "--home", str(tmp_path / "none"))
    assert code != 0 and "wms2 init" in err
    code, _, err = wms2("show", "nope", "--home", str(tmp_path / "none"))
    assert code != 0
