"""Issue 12 defects 3, 4 and 8: the same hostile corpus through ``wms2 submit`` and ``POST /requests``:
the same refusals (the field at fault named), and nothing stored, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.api.conftest import Api
from tests.cli.conftest import wms2
from wms2.config import Settings
from wms2.db.session import Database
from wms2.db.tables import RequestRow

from .hostile import CASES, Hostile, base_document, body, named


def _stored(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count(RequestRow.id))) or 0


def _cli_submit(tmp_path: Path, settings: Settings, text: str, name: str) -> tuple[int, dict]:
    path = tmp_path / f"{name}.json"
    path.write_text(text)
    result = wms2("submit", "--home", str(settings.home), "--json", str(path))
    return result.code, json.loads(result.out) if result.out.strip() else {}


def _api_submit(api: Api, text: str) -> tuple[int, dict]:
    r = api.call("POST", "/requests", "operator", headers={"Content-Type": "application/json"}, content=text)
    return r.status_code, r.json()


@pytest.mark.parametrize("kind", ["mc", "chain", "rereco"])
def test_base_documents_are_accepted(kind: str, fixtures_dir: Path, tmp_path: Path, cli_db: Database,
                                     cli_settings: Settings) -> None:
    """The control: every case fails because of its change, not because of its base."""
    code, out = _cli_submit(tmp_path, cli_settings, json.dumps(base_document(kind, fixtures_dir)), kind)
    assert code == 0 and out["ok"], out
    assert _stored(cli_db) == 1


def test_corpus_has_the_issue_cases() -> None:
    ids = {c.id for c in CASES}
    assert {"merged_lfn_base_dotdot", "jobs_absurd", "nul_opaque", "deep_nesting"} <= ids
    assert len(ids) == len(CASES)


def _check(case: Hostile, refused: bool, errors: list[dict[str, str]], stored: int) -> list[str]:
    problems = []
    if not refused:
        problems.append(f"{case.id}: accepted")
    elif case.fields and not named(errors, case):
        problems.append(f"{case.id}: refused without naming {case.fields}: {errors}")
    if stored:
        problems.append(f"{case.id}: {stored} request(s) stored")
    return problems


@pytest.mark.slow
def test_cli_refuses_the_corpus(fixtures_dir: Path, tmp_path: Path, cli_db: Database,
                                cli_settings: Settings) -> None:
    problems: list[str] = []
    for case in CASES:
        code, out = _cli_submit(tmp_path, cli_settings, body(case, fixtures_dir), case.id)
        problems += _check(case, code != 0 and out.get("ok") is False, out.get("errors", []), _stored(cli_db))
    assert problems == []


def test_api_refuses_the_corpus(fixtures_dir: Path, api: Api) -> None:
    problems: list[str] = []
    for case in CASES:
        status, out = _api_submit(api, body(case, fixtures_dir))
        if status not in case.api_status:
            problems.append(f"{case.id}: HTTP {status} (expected {case.api_status}): {out}")
        errors = out.get("errors", []) if isinstance(out, dict) else []
        if status == 413:  # refused by size before any parsing: the body is at fault
            errors = [{"field": "body", "message": out.get("detail", "")}]
        problems += _check(case, 400 <= status < 500, errors, _stored(api.db))
    assert problems == []


def test_lfn_base_dotdot_contract(fixtures_dir: Path, tmp_path: Path, cli_db: Database,
                                  cli_settings: Settings) -> None:
    """Issue 12 contract: `wms2 submit` of MergedLFNBase with /../ exits non-zero and stores nothing."""
    doc = {**base_document("mc", fixtures_dir), "MergedLFNBase": "/store/mc/../../../etc"}
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(doc))
    result = wms2("submit", "--home", str(cli_settings.home), str(path))
    assert result.code != 0
    assert "MergedLFNBase" in result.err and "'..'" in result.err and "nothing was stored" in result.err
    assert _stored(cli_db) == 0


def test_size_error_names_field_and_limit(fixtures_dir: Path, tmp_path: Path, cli_db: Database,
                                          cli_settings: Settings) -> None:
    doc = {**base_document("mc", fixtures_dir), "RequestNumEvents": 10**9, "EventsPerJob": 1}
    code, out = _cli_submit(tmp_path, cli_settings, json.dumps(doc), "big")
    assert code != 0
    error = next(e for e in out["errors"] if e["field"] == "big: EventsPerJob")  # "<file stem>: <field>"
    assert "1000000000 jobs" in error["message"] and "planning.max_jobs_per_request (2000000)" in error["message"]
    assert _stored(cli_db) == 0
