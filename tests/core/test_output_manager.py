"""Output Manager: exactly-once registration, block close/archive, backoff and give-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wms2.config import Settings
from wms2.core.output_manager import OutputManager
from wms2.db.catalog_tables import CatalogFileRow, CatalogLumiRow
from wms2.db.session import Database
from wms2.db.tables import DagRow, LocalRuleRow, ProcessingBlockRow, RequestRow, WorkflowRow, WorkUnitRecordRow
from wms2.domain.enums import BlockStatus, DAGStatus, RequestStatus, WorkflowStatus
from wms2.services.outputs import LocalCatalogWriter, LocalRuleService, RegistrationError, RuleRequest

DATASET = "/Prim/Era-Proc-v1/AODSIM"


def _wu(name: str, n_files: int = 2) -> dict[str, Any]:
    return {"site": "T2_XX_SiteA", "registered": False, "metrics": None, "processed_input_lfns": [],
            "files": [{"dataset": DATASET, "tier": "AODSIM",
                       "lfn": f"/store/mc/Era/Prim/AODSIM/Proc-v1/{name}-{i}.root",
                       "size": 100 + i, "adler32": "0000abcd", "events": 10, "lumis": {"1": [i + 1]},
                       "input_lfns": []} for i in range(n_files)]}


def _setup(db: Database, wus: int = 2) -> tuple[int, int]:
    with db.session() as s:
        req = RequestRow(name="r", requestor="t", request_type="StepChain", document={}, spec={}, priority=1,
                         status=RequestStatus.active, output_datasets=[DATASET])
        s.add(req)
        s.flush()
        wf = WorkflowRow(request_id=req.id, request_name="r", status=WorkflowStatus.active)
        s.add(wf)
        s.flush()
        names = [f"mg_{i:06d}" for i in range(wus)]
        dag = DagRow(workflow_id=wf.id, round=0, dag_file="/x/workflow.dag", submit_dir="/x", total_work_units=wus,
                     status=DAGStatus.running, completed_work_units={n: {"site": "T2_XX_SiteA"} for n in names})
        s.add(dag)
        s.add_all(WorkUnitRecordRow(workflow_id=wf.id, round=0, name=n, site="T2_XX_SiteA", record=_wu(n))
                  for n in names)
        s.flush()
        s.add(ProcessingBlockRow(workflow_id=wf.id, dag_id=dag.id, round=0, block_index=0, dataset=DATASET,
                                 total_work_units=wus, status=BlockStatus.open))
        return wf.id, dag.id


def _files(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count(CatalogFileRow.id))) or 0


def test_register_close_archive_once(db: Database, settings: Settings) -> None:
    wf_id, dag_id = _setup(db)
    om = OutputManager(settings, LocalCatalogWriter, LocalRuleService)
    now = datetime.now(UTC)
    for _ in range(2):  # a repeated cycle adds nothing
        with db.session() as s:
            wf, dag = s.get(WorkflowRow, wf_id), s.get(DagRow, dag_id)
            om.register(s, wf, dag, now)
            om.finish_blocks(s, wf, now)
    assert _files(db) == 4
    with db.session() as s:
        block = s.scalar(select(ProcessingBlockRow))
        assert block.status == BlockStatus.archived and not block.is_open
        assert sorted(block.completed_work_units) == ["mg_000000", "mg_000001"]
        assert s.get(LocalRuleRow, block.archival_rule_id).rse_expression == settings.output.archival_rse
        assert len(block.source_rule_ids) == 2
        assert s.scalar(select(func.count(CatalogLumiRow.id))) == 4
        assert all(s.scalars(select(WorkUnitRecordRow.registered)))


class ExternalCatalog(LocalCatalogWriter):
    """An 'external' catalog: its writes commit on their own, whatever happens to WMS2's transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _run(self, method: str, *args: Any) -> Any:
        with self.db.session() as s:
            return getattr(LocalCatalogWriter(s), method)(*args)

    def open_block(self, dataset: str, block: str) -> None:
        self._run("open_block", dataset, block)

    def register_files(self, dataset: str, block: str, files: Any) -> int:
        return self._run("register_files", dataset, block, files)

    def close_block(self, block: str) -> None:
        self._run("close_block", block)


def test_crash_between_registration_and_db_write(db: Database, settings: Settings) -> None:
    wf_id, dag_id = _setup(db, wus=1)
    om = OutputManager(settings, lambda _s: ExternalCatalog(db), LocalRuleService)
    now = datetime.now(UTC)
    session: Session
    with db.engine.connect() as conn, Session(conn) as session:
        wf, dag = session.get(WorkflowRow, wf_id), session.get(DagRow, dag_id)
        om.register(session, wf, dag, now)
        session.rollback()  # the crash: WMS2's own write is lost, the catalog kept the files
    assert _files(db) == 2
    with db.session() as s:
        assert s.scalar(select(WorkUnitRecordRow.registered)) is False
        om.register(s, s.get(WorkflowRow, wf_id), s.get(DagRow, dag_id), now)
    assert _files(db) == 2  # the retry found them: nothing registered twice
    with db.session() as s:
        assert s.scalar(select(WorkUnitRecordRow.registered)) is True


class FailingCatalog(LocalCatalogWriter):
    def register_files(self, dataset: str, block: str, files: Any) -> int:
        raise RegistrationError("DBS answered 503")


def test_backoff_then_give_up(db: Database, settings: Settings) -> None:
    wf_id, dag_id = _setup(db, wus=1)
    om = OutputManager(settings, FailingCatalog, LocalRuleService)
    start = datetime.now(UTC)

    def cycle(at: datetime) -> ProcessingBlockRow:
        with db.session() as s:
            om.register(s, s.get(WorkflowRow, wf_id), s.get(DagRow, dag_id), at)
        with db.session() as s:
            block = s.scalar(select(ProcessingBlockRow))
            s.expunge(block)
            return block

    assert cycle(start).attempt_count == 1
    assert cycle(start + timedelta(seconds=30)).attempt_count == 1  # not due before 60 s
    assert cycle(start + timedelta(seconds=61)).attempt_count == 2
    assert cycle(start + timedelta(seconds=61 + 299)).attempt_count == 2  # next wait is 5 min
    block = cycle(start + timedelta(seconds=61 + 301))
    assert block.attempt_count == 3 and "503" in (block.last_error or "")
    block = cycle(start + timedelta(days=3, seconds=1))
    assert block.status == BlockStatus.failed


class CountingCatalog(LocalCatalogWriter):
    """Counts the catalog calls (the batching contract: one registration call per block per cycle)."""

    calls: list[int] = []

    def register_files(self, dataset: str, block: str, files: Any) -> int:
        CountingCatalog.calls.append(len(files))
        return super().register_files(dataset, block, files)


def test_one_catalog_and_rule_call_per_block_per_cycle(db: Database, settings: Settings) -> None:
    wf_id, dag_id = _setup(db, wus=5)
    CountingCatalog.calls = []
    om = OutputManager(settings, CountingCatalog, LocalRuleService)
    with db.session() as s:
        report = om.register(s, s.get(WorkflowRow, wf_id), s.get(DagRow, dag_id), datetime.now(UTC))
    assert CountingCatalog.calls == [10]  # 5 WUs x 2 files in one call
    assert report.files_registered == 10
    assert report.work_units_registered == [f"mg_{i:06d}" for i in range(5)]
    with db.session() as s:
        block = s.scalar(select(ProcessingBlockRow))
        assert block.completed_work_units == [f"mg_{i:06d}" for i in range(5)]
        rules = {r.id: r for r in s.scalars(select(LocalRuleRow).where(LocalRuleRow.kind == "source"))}
        assert set(block.source_rule_ids.values()) == set(rules) and len(rules) == 5
        assert {r.did.rsplit("/", 1)[1] for r in rules.values()} == set(block.source_rule_ids)


def test_a_work_unit_writing_two_datasets_waits_for_both_blocks(db: Database, settings: Settings) -> None:
    wf_id, dag_id = _setup(db, wus=1)
    other = "/Prim/Era-Proc-v1/MINIAODSIM"
    with db.session() as s:
        row = s.scalar(select(WorkUnitRecordRow))
        extra = {**row.record["files"][0], "dataset": other, "tier": "MINIAODSIM",
                 "lfn": "/store/mc/Era/Prim/MINIAODSIM/Proc-v1/mg_000000-0.root"}
        row.record = {**row.record, "files": [*row.record["files"], extra]}
        s.add(ProcessingBlockRow(workflow_id=wf_id, dag_id=dag_id, round=0, block_index=0, dataset=other,
                                 total_work_units=1, status=BlockStatus.open))

    class FailsOnMini(LocalCatalogWriter):
        def register_files(self, dataset: str, block: str, files: Any) -> int:
            if dataset == other:
                raise RegistrationError("DBS answered 503")
            return super().register_files(dataset, block, files)

    now = datetime.now(UTC)
    with db.session() as s:
        report = OutputManager(settings, FailsOnMini, LocalRuleService).register(
            s, s.get(WorkflowRow, wf_id), s.get(DagRow, dag_id), now)
    assert report.work_units_registered == [] and report.files_registered == 2
    with db.session() as s:
        assert s.scalar(select(WorkUnitRecordRow.registered)) is False
        blocks = {b.dataset: b for b in s.scalars(select(ProcessingBlockRow))}
        assert blocks[DATASET].completed_work_units == ["mg_000000"]
        assert blocks[other].completed_work_units == [] and blocks[other].attempt_count == 1
    with db.session() as s:  # the retry (after the backoff) registers only what is missing
        report = OutputManager(settings, LocalCatalogWriter, LocalRuleService).register(
            s, s.get(WorkflowRow, wf_id), s.get(DagRow, dag_id), now + timedelta(seconds=61))
    assert report.work_units_registered == ["mg_000000"] and report.files_registered == 1
    assert _files(db) == 3


def test_add_rules_is_idempotent_and_revives_deleted_rules(db: Database) -> None:
    asks = [RuleRequest(f"b#1/mg_00000{i}", "T2_XX_SiteA", "source") for i in (0, 1, 0)]
    with db.session() as s:
        ids = LocalRuleService(s).add_rules(asks)
        assert ids[0] == ids[2] != ids[1]
        LocalRuleService(s).delete_rule(ids[1])
    with db.session() as s:
        assert LocalRuleService(s).add_rules(asks) == ids
        assert LocalRuleService(s).add_rule("b#1/mg_000001", "T2_XX_SiteA", "source") == ids[1]
    with db.session() as s:
        rows = list(s.scalars(select(LocalRuleRow)))
        assert len(rows) == 2 and all(r.state == "OK" and r.deleted_at is None for r in rows)
