"""Issue 15 item 4: active requests evaluated in batches (one transaction, a SAVEPOINT per request).

- every WU is recorded and registered exactly once, whatever the batch size, over repeated cycles;
- a request that raises in the middle of a batch loses only its own writes; the others commit;
- a lease lost at the batch's commit keeps nothing of the batch (fencing per write transaction), and
  the owner's synchronous lease renewal never waits for a batch's SQLite write lock;
- the per-DAG statement count of a steady cycle stays low (the batch's reads are shared);
- the embedded catalog's insert-or-skip registration keeps refusing a file of another block.
Each runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from tests.core.test_monitor_perf import RunningEngine
from wms2.config import OwnershipSettings, Settings
from wms2.core.active import ActiveHandler
from wms2.core.lifecycle import LifecycleManager
from wms2.core.monitor import DagMonitor
from wms2.core.output_manager import OutputManager
from wms2.core.ownership import Lease, LeaseLost
from wms2.core.workers import Workers
from wms2.dagman.model import NodeStatus
from wms2.dagman.status_file import DagStatusFile, NodeStatusEntry, write_status_file
from wms2.db.catalog_tables import CatalogFileRow, CatalogLumiRow
from wms2.db.session import Database
from wms2.db.tables import (
    DagHistoryRow,
    DagRow,
    LocalRuleRow,
    ProcessingBlockRow,
    RequestRow,
    WorkflowRow,
    WorkUnitRecordRow,
)
from wms2.domain.enums import BlockStatus, DAGStatus, RequestStatus, WorkflowStatus
from wms2.sandbox.results import MERGE_OUTPUT_FILE, MergedFile, MergeOutput
from wms2.services.outputs import (
    LocalCatalogWriter,
    LocalRuleService,
    OutputFile,
    RegistrationError,
    block_name,
)

WUS = 4  # per DAG: the first two done (with their merge output), the others running


def _dataset(i: int) -> str:
    return f"/Prim{i}/Era-Proc-v1/GEN-SIM"


def _write_round(round_dir: Path, i: int, done: int = 2) -> None:
    round_dir.mkdir(parents=True, exist_ok=True)
    nodes = []
    for w in range(WUS):
        name = f"mg_{w:06d}"
        nodes.append(NodeStatusEntry(node=name, status=NodeStatus.DONE if w < done else NodeStatus.SUBMITTED))
        if w < done:
            (round_dir / name).mkdir(exist_ok=True)
            f = MergedFile(dataset=_dataset(i), tier="GEN-SIM", lfn=f"/store/mc/Era/Prim{i}/GEN-SIM/v1/{name}.root",
                           size=10, adler32="0000abcd", events=5, lumis={"1": [w + 1, w + 100]}, site="T2_CH_CERN")
            out = MergeOutput(work_unit=name, site="T2_CH_CERN", files=[f])
            (round_dir / name / MERGE_OUTPUT_FILE).write_text(out.model_dump_json())
    write_status_file(round_dir / "workflow.dag.status", DagStatusFile(
        dag_files=["workflow.dag"], timestamp=1, dag_status=int(NodeStatus.SUBMITTED), nodes=nodes,
        nodes_total=WUS, nodes_done=done, nodes_queued=WUS - done, end_time=1, next_update=61))


def _active_requests(db: Database, base: Path, n: int) -> None:
    with db.session() as s:
        for i in range(n):
            req = RequestRow(name=f"r{i}", requestor="t", request_type="StepChain", document={}, spec={}, priority=1,
                             status=RequestStatus.active, output_datasets=[_dataset(i)])
            s.add(req)
            s.flush()
            wf = WorkflowRow(request_id=req.id, request_name=req.name, status=WorkflowStatus.active)
            s.add(wf)
            s.flush()
            round_dir = base / f"r{i}" / "round_000"
            _write_round(round_dir, i)
            dag = DagRow(workflow_id=wf.id, round=0, dag_file=str(round_dir / "workflow.dag"),
                         submit_dir=str(round_dir), cluster_id=100 + i, schedd_name="local", total_work_units=WUS,
                         status=DAGStatus.running)
            s.add(dag)
            s.flush()
            wf.current_dag_id = dag.id
            s.add(ProcessingBlockRow(workflow_id=wf.id, dag_id=dag.id, round=0, block_index=0, dataset=_dataset(i),
                                     total_work_units=WUS, status=BlockStatus.open))


class ExplodingCatalog(LocalCatalogWriter):
    """Raises a programming error (not a registration failure) for one dataset: the request's evaluation
    fails after it has already written its poll."""

    dataset = _dataset(1)

    def register_files(self, dataset: str, block: str, files: Any) -> int:
        if dataset == self.dataset:
            raise KeyError("catalog writer bug")
        return super().register_files(dataset, block, files)


def _manager(db: Database, settings: Settings, catalog: Any = LocalCatalogWriter) -> LifecycleManager:
    active = ActiveHandler(DagMonitor(RunningEngine()), OutputManager(settings, catalog, LocalRuleService))
    return LifecycleManager(db, settings, Workers(extra_handlers={RequestStatus.active: active}))


def _per_request(db: Database) -> dict[str, tuple[int, int, int]]:
    """request name -> (WU records, registered records, history rows)."""
    with db.session() as s:
        out = {}
        for req in s.scalars(select(RequestRow).order_by(RequestRow.id)):
            wf = s.scalar(select(WorkflowRow).where(WorkflowRow.request_id == req.id))
            assert wf is not None
            records = list(s.scalars(select(WorkUnitRecordRow).where(WorkUnitRecordRow.workflow_id == wf.id)))
            history = s.scalar(select(func.count()).select_from(DagHistoryRow)
                               .where(DagHistoryRow.dag_id == wf.current_dag_id)) or 0
            out[req.name] = (len(records), sum(r.registered for r in records), history)
        return out


def _files(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count(CatalogFileRow.id))) or 0


@pytest.mark.parametrize("batch_size", [1, 3])
def test_every_wu_registered_once_whatever_the_batch(db: Database, settings: Settings, tmp_path: Path,
                                                     batch_size: int) -> None:
    settings.lifecycle.batch_size = batch_size
    _active_requests(db, tmp_path, 5)
    manager = _manager(db, settings)
    for _ in range(3):  # repeated cycles add nothing twice
        report = manager.run_cycle()
        assert report.errors == [] and report.evaluated == 5
    assert _per_request(db) == {f"r{i}": (2, 2, 1) for i in range(5)}
    assert _files(db) == 10
    with db.session() as s:
        assert s.scalar(select(func.count(CatalogLumiRow.id))) == 20
        assert s.scalar(select(func.count(LocalRuleRow.id))) == 10
        for block in s.scalars(select(ProcessingBlockRow)):
            assert block.completed_work_units == ["mg_000000", "mg_000001"] and block.is_open
            assert len(block.source_rule_ids) == 2 and block.catalog_block_name
        for dag in s.scalars(select(DagRow)):
            assert sorted(dag.completed_work_units) == ["mg_000000", "mg_000001"]
            assert dag.node_counters["wu_done"] == 2 and dag.node_counters["wu_running"] == 2


def test_a_failing_request_loses_only_its_own_writes(db: Database, settings: Settings, tmp_path: Path) -> None:
    settings.lifecycle.batch_size = 3  # r0, r1, r2 in one batch; r1 fails in the middle of it
    _active_requests(db, tmp_path, 4)
    report = _manager(db, settings, ExplodingCatalog).run_cycle()
    assert [e["request"] for e in report.errors] == ["r1"] and "catalog writer bug" in report.errors[0]["error"]
    assert report.evaluated == 4
    assert _per_request(db) == {"r0": (2, 2, 1), "r1": (0, 0, 0), "r2": (2, 2, 1), "r3": (2, 2, 1)}
    with db.session() as s:  # r1's poll (records, counters, DAG entry) was rolled back with its savepoint
        dag = s.scalar(select(DagRow).join(WorkflowRow, WorkflowRow.id == DagRow.workflow_id)
                       .where(WorkflowRow.request_name == "r1"))
        assert dag is not None and dag.completed_work_units == {} and dag.node_counters == {}
    report = _manager(db, settings).run_cycle()  # the bug fixed: the next cycle registers r1, once
    assert report.errors == []
    assert _per_request(db) == {f"r{i}": (2, 2, 1) for i in range(4)}
    assert _files(db) == 8


class LosingFence:
    """A lease lost while the batch ran: its commit is refused (``Lease.check`` in ``before_commit``)."""

    def assert_valid(self) -> None:
        return None

    def install(self, session: Session) -> None:
        def refuse(_session: Session) -> None:
            raise LeaseLost("write refused: lease token 1 is no longer current (now 2)")

        event.listen(session, "before_commit", refuse)


def test_a_lease_lost_at_the_batch_commit_keeps_nothing(db: Database, settings: Settings, tmp_path: Path) -> None:
    _active_requests(db, tmp_path, 3)
    manager = _manager(db, settings)
    manager.fence = LosingFence()
    with pytest.raises(LeaseLost):
        manager.run_cycle()
    assert _per_request(db) == {f"r{i}": (0, 0, 0) for i in range(3)}
    assert _files(db) == 0


def test_a_lease_renewed_during_the_cycle_does_not_wait_for_the_batch(db: Database, settings: Settings,
                                                                     tmp_path: Path) -> None:
    """The owner's synchronous renewal (its heartbeat stalled) writes the lease row from another
    connection: it runs before a batch's transaction, never inside it (on SQLite it would wait for the
    write lock the batch holds, up to the busy timeout)."""
    settings.lifecycle.batch_size = 3
    _active_requests(db, tmp_path, 5)
    ticks = itertools.count(0.0, 1000.0)  # every look at the clock: the heartbeat is long overdue
    lease = Lease(db, OwnershipSettings(lease_seconds=60.0, renew_seconds=20.0), "test",
                  monotonic=lambda: next(ticks))
    assert lease.try_acquire() is None
    manager = _manager(db, settings)
    manager.fence = lease
    started = time.monotonic()
    report = manager.run_cycle()
    # A renewal waiting for the batch's write lock would wait SQLite's 30 s busy timeout.  The bound stays
    # below it with room for a loaded machine: with four pytest workers, two running end-to-end tests,
    # this cycle took up to ~10 s on PostgreSQL (0.1 s alone), all of it waiting for a core.
    assert report.errors == [] and time.monotonic() - started < 20.0
    assert _per_request(db) == {f"r{i}": (2, 2, 1) for i in range(5)}


def test_statements_per_dag_of_a_steady_cycle(db: Database, settings: Settings, tmp_path: Path) -> None:
    """A steady cycle over 6 DAGs that each completed one more WU: the 17 statements per DAG of one
    transaction per request are down to 11 per DAG, plus the savepoint pair and the batch's shared reads."""
    _active_requests(db, tmp_path, 6)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    manager = _manager(db, settings)
    assert manager.run_cycle().errors == []  # opens the blocks in the catalog
    for i in range(6):
        _write_round(tmp_path / f"r{i}" / "round_000", i, done=3)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert manager.run_cycle().errors == []
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    per_dag = [s for s in statements if not s.startswith(("SAVEPOINT", "RELEASE"))]
    assert _files(db) == 18
    assert len(per_dag) <= 6 * 11 + 12, "\n".join(per_dag)  # + the cycle's own and the batch's reads


def test_a_file_of_another_block_is_still_refused(db: Database) -> None:
    def files(*names: str) -> list[OutputFile]:
        return [OutputFile(lfn=f"/store/x/{n}.root", size=1, adler32="0000abcd", events=1, lumis={1: [1, 2]},
                           site="T2_CH_CERN") for n in names]

    a, b = block_name("/P/E-v1/RAW", 1, 0, 0), block_name("/P/E-v1/RAW", 1, 0, 1)
    with db.session() as s:
        writer = LocalCatalogWriter(s)
        writer.open_block("/P/E-v1/RAW", a)
        writer.open_block("/P/E-v1/RAW", b)
        assert writer.register_files("/P/E-v1/RAW", a, files("f1", "f2")) == 2
    with db.session() as s:
        assert LocalCatalogWriter(s).register_files("/P/E-v1/RAW", a, files("f1", "f2", "f3")) == 1  # a repeat
        with pytest.raises(RegistrationError, match=r"f2\.root is already registered in another block"):
            LocalCatalogWriter(s).register_files("/P/E-v1/RAW", b, files("f2", "f4"))
    with db.session() as s:  # what was new in the refused call is complete (files with their lumis)
        blocks = {lfn: block_id for lfn, block_id in s.execute(select(CatalogFileRow.lfn, CatalogFileRow.block_id))}
        assert sorted(blocks) == [f"/store/x/{n}.root" for n in ("f1", "f2", "f3", "f4")]
        assert s.scalar(select(func.count(CatalogLumiRow.id))) == 8
