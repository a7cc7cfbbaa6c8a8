"""Submitting request documents: all-or-nothing, idempotent, every error named."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.core.helpers import stepchain_doc, submit
from wms2.config import Settings
from wms2.core.workflow_manager import submit_documents
from wms2.db.session import Database
from wms2.db.tables import RequestRow
from wms2.domain.enums import RequestStatus
from wms2.domain.reqmgr import RequestImportError


def count(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count(RequestRow.id))) or 0


def test_submit_stores_submitted_with_audit(db: Database, settings: Settings, fixtures_dir: Path) -> None:
    names = submit(db, settings, [stepchain_doc(fixtures_dir, "req_a")])
    assert names == ["req_a"]
    with db.session() as s:
        row = s.scalar(select(RequestRow).where(RequestRow.name == "req_a"))
        assert row is not None and row.status == RequestStatus.submitted
        assert row.status_transitions[0]["from"] is None and row.status_transitions[0]["by"] == "test"
        assert row.spec["splitting"]["request_num_events"] == 20000


def test_rejected_batch_writes_nothing(db: Database, settings: Settings, fixtures_dir: Path) -> None:
    good = stepchain_doc(fixtures_dir, "req_good")
    bad = stepchain_doc(fixtures_dir, "req_bad", Memory=50000)
    with pytest.raises(RequestImportError) as info, db.session() as s:
        submit_documents(s, [("good", good), ("bad", bad)], settings, "test")
    assert any("Memory" in e.field for e in info.value.errors)
    assert count(db) == 0


def test_resubmit_identical_is_idempotent(db: Database, settings: Settings, fixtures_dir: Path) -> None:
    doc = stepchain_doc(fixtures_dir, "req_same")
    submit(db, settings, [doc])
    with db.session() as s:
        results = submit_documents(s, [("x", doc)], settings, "test")
    assert [r.created for r in results] == [False]
    changed = stepchain_doc(fixtures_dir, "req_same", priority=5)
    with pytest.raises(RequestImportError, match="different request"), db.session() as s:
        submit_documents(s, [("x", changed)], settings, "test")
    assert count(db) == 1
