"""The harness's judges can fail: duplicate submissions from spool records, duplicate registrations
from catalog rows, lost requests from request rows (fast, SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

import wms2.db.models  # noqa: F401
from tests.reliability import checks
from wms2.db.base import Base
from wms2.db.catalog_tables import CatalogBlockRow, CatalogDatasetRow, CatalogFileRow, CatalogLumiRow
from wms2.db.session import Database
from wms2.engines.local.records import RECORDS_DIR

DS = "/Chaos/Test-v1/GEN-SIM"


def _record(spool: Path, cluster: int, dag: str, start: float, end: float | None, exit_code: int | None,
            parent: int | None = None) -> None:
    (spool / RECORDS_DIR).mkdir(parents=True, exist_ok=True)
    rec = {"cluster": cluster, "dag_file": dag, "state": "done" if end is not None else "running",
           "parent": parent, "start_time": start, "end_time": end, "exit_code": exit_code}
    (spool / RECORDS_DIR / f"{cluster}.json").write_text(json.dumps(rec))


def test_engine_counts_tell_a_rescue_from_a_duplicate(tmp_path: Path) -> None:
    a, b, c = (str(tmp_path / n / "workflow.dag") for n in "abc")
    _record(tmp_path, 1, a, 10, 20, 1)  # failed run ...
    _record(tmp_path, 2, a, 30, 40, 0)  # ... then its rescue: legitimate
    _record(tmp_path, 3, a, 45, 50, 0, parent=2)  # a merge-group sub-DAG: not counted
    _record(tmp_path, 4, b, 10, None, None)  # still running ...
    _record(tmp_path, 5, b, 11, 30, 0)  # ... and submitted again: duplicate
    _record(tmp_path, 6, c, 10, 20, 0)  # succeeded ...
    _record(tmp_path, 7, c, 25, 35, 0)  # ... and submitted again: duplicate
    counts = checks.engine_counts(tmp_path)
    assert counts.top_level_submissions == 6
    assert counts.duplicate_submissions == 2, counts.duplicates
    assert any("cluster 5" in d and "cluster 4 was live" in d for d in counts.duplicates)
    assert any("cluster 7" in d and "cluster 6 succeeded" in d for d in counts.duplicates)


def test_catalog_and_request_checks(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    Base.metadata.create_all(db.engine)
    with db.session() as s:
        ds = CatalogDatasetRow(name=DS)
        s.add(ds)
        s.flush()
        block = CatalogBlockRow(dataset_id=ds.id, name=DS + "#1", is_open=False)
        s.add(block)
        s.flush()
        for i, lumis in enumerate([(1, 2), (3, 4), (4, 5)]):  # lumi 4 twice: one duplicate registration
            f = CatalogFileRow(dataset_id=ds.id, block_id=block.id, lfn=f"/store/mc/f{i}.root", events=100)
            s.add(f)
            s.flush()
            s.add_all([CatalogLumiRow(file_id=f.id, run=1, lumi=n) for n in lumis])
    counts = checks.catalog_counts(db.engine, [DS])
    assert (counts.files, counts.duplicate_registrations, counts.events_by_dataset[DS]) == (3, 1, 300)
    with db.engine.begin() as conn:
        for name, status, reason in (("done", "completed", "all work done"), ("stuck", "active", "admitted"),
                                     ("held", "held", "")):
            conn.execute(text(
                "INSERT INTO requests (name, requestor, request_type, document, spec, output_datasets, priority,"
                " urgent, production_steps, adaptive, processing_version, cleanup_policy, overrides, status,"
                " status_transitions, status_since, created_at, updated_at) VALUES (:n, 'x', 'StepChain', '{}',"
                " '{}', :o, 1, 0, '[]', 1, 1, 'keep_until_replaced', '{}', :s, :t, CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                {"n": name, "o": json.dumps([DS]), "s": status, "t": json.dumps([{"to": status, "reason": reason}])})
    outcomes, datasets = checks.request_outcomes(db.engine, {"done": 400, "stuck": 100, "held": 100, "gone": 1})
    assert datasets == [DS, DS, DS]  # the missing request has none
    checks.attach_events(outcomes, counts)
    by = {o.name: o for o in outcomes}
    assert by["done"].defined and by["done"].lost_events == 100  # 400 asked, 300 in the catalog
    assert not by["stuck"].defined  # not an end state
    assert not by["held"].defined  # held without a reason
    assert not by["gone"].defined and by["gone"].status == "missing"
    db.dispose()
