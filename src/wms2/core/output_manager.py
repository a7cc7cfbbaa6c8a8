"""Output Manager (design §4): register completed work units' files and manage their blocks' rules.

Per completed WU: open the block on the first WU, register the files (LFN, size, adler32, events,
lumis, parents), protect them at the source site.  Per completed block: close it, create the archival
rule (and the consolidation rule if configured).  A failed call is recorded on the block and retried by
later cycles on the backoff schedule; after ``give_up_after_s`` the block is ``failed``.

Exactly-once: the catalog and rule calls are idempotent, and a WU is marked registered only after
all of its files are in; a crash in between repeats the calls, which add nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from wms2.config import Settings
from wms2.core.alerts import raise_alert
from wms2.core.output_guard import catalog_writes
from wms2.core.transitions import transition_block
from wms2.core.wu_records import round_records
from wms2.db.tables import DagRow, ProcessingBlockRow, WorkflowRow, WorkUnitRecordRow
from wms2.domain.enums import BlockStatus
from wms2.services.outputs import (
    CatalogWriter,
    OutputFile,
    RegistrationError,
    RuleRequest,
    RuleService,
    block_name,
)

log = logging.getLogger(__name__)
UNFINISHED = (BlockStatus.open, BlockStatus.complete)
OUTPUT_ALERT = "output-registration-failed"  # blocks that may still be closed or archived
_RECORDS: Table = WorkUnitRecordRow.__table__  # type: ignore[assignment]
# Core, not an ORM flush of one object per WU: the WUs a poll registered, in one statement
_MARK_REGISTERED = update(_RECORDS).where(_RECORDS.c.id.in_(bindparam("ids", expanding=True))).values(registered=True)


@dataclass(frozen=True)
class PendingRecord:
    """A completed WU not yet registered: its ``work_unit_records`` id, name and record."""

    id: int
    name: str
    record: dict[str, Any]

    @classmethod
    def of(cls, row: WorkUnitRecordRow) -> PendingRecord:
        return cls(row.id, row.name, row.record)


def round_blocks_query(workflow_id: int, round_: int):  # type: ignore[no-untyped-def]
    """The blocks a poll of the round needs: the round's, and the workflow's still open or complete ones."""
    return select(ProcessingBlockRow).where(
        ProcessingBlockRow.workflow_id == workflow_id,
        or_(ProcessingBlockRow.round == round_, ProcessingBlockRow.status.in_(UNFINISHED))
    ).order_by(ProcessingBlockRow.id)


_BLOCKS: Table = ProcessingBlockRow.__table__  # type: ignore[assignment]
# What a successful registration changes on its block (``_register_batch``, ``_clear_failure``)
_PROGRESS = ("catalog_block_name", "is_open", "completed_work_units", "source_rule_ids", "attempt_count",
             "first_failure_at", "last_error", "last_attempt_at")
_WRITE_PROGRESS = _BLOCKS.update().where(_BLOCKS.c.id == bindparam("block_id")).values(
    updated_at=bindparam("at"), **{k: bindparam(k) for k in _PROGRESS})


def _write_progress(session: Session, block: ProcessingBlockRow, now: datetime) -> None:
    """The block's registration progress as one Core UPDATE (compiled once), its ORM object given the same
    values as committed state: no unit-of-work flush of the block, once per DAG per cycle."""
    values = {k: getattr(block, k) for k in _PROGRESS}
    session.connection().execute(_WRITE_PROGRESS, {"block_id": block.id, "at": now, **values})
    for key, value in values.items():
        set_committed_value(block, key, value)
    set_committed_value(block, "updated_at", now)


@dataclass
class OutputReport:
    work_units_registered: list[str] = field(default_factory=list)
    files_registered: int = 0
    blocks_closed: list[str] = field(default_factory=list)
    blocks_archived: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _files_for(wu: dict[str, Any], dataset: str) -> list[OutputFile]:
    return [
        OutputFile(lfn=f["lfn"], size=int(f["size"]), adler32=f["adler32"], events=int(f["events"]),
                   lumis={int(r): list(ls) for r, ls in f.get("lumis", {}).items()},
                   parents=tuple(f.get("input_lfns", [])), site=f.get("site") or wu.get("site"))
        for f in wu.get("files", []) if f["dataset"] == dataset
    ]


class OutputManager:
    def __init__(
        self,
        settings: Settings,
        catalog: Callable[[Session], CatalogWriter],
        rules: Callable[[Session], RuleService],
    ) -> None:
        self.settings = settings
        self.catalog_factory = catalog
        self.rules_factory = rules

    # -- scheduling ------------------------------------------------------------------------------
    def _due(self, block: ProcessingBlockRow, now: datetime) -> bool:
        if block.attempt_count == 0 or block.last_attempt_at is None:
            return True
        schedule = self.settings.output.retry_backoff_s
        wait = schedule[min(block.attempt_count - 1, len(schedule) - 1)]
        return now >= block.last_attempt_at + timedelta(seconds=wait)

    def _record_failure(self, block: ProcessingBlockRow, now: datetime, error: str, report: OutputReport) -> None:
        block.attempt_count += 1
        block.last_attempt_at = now
        block.first_failure_at = block.first_failure_at or now
        block.last_error = error
        report.failures.append(f"{block.dataset} round {block.round}: {error}")
        session = object_session(block)
        if session is not None:  # an alert operators see (the error names the service, the call, the DID)
            raise_alert(session, kind=OUTPUT_ALERT, now=now, request_name=self._workflow_name(block),
                        reason=f"output registration of {block.dataset} round {block.round} failed"
                               f" (attempt {block.attempt_count}, retried with backoff): {error}",
                        detail={"dataset": block.dataset, "round": block.round},
                        repeat_after_s=self.settings.lifecycle.alert_repeat_seconds)
        if (now - block.first_failure_at).total_seconds() >= self.settings.output.give_up_after_s:
            log.error("block %s round %d failed after %d attempts since %s: %s", block.dataset, block.round,
                      block.attempt_count, block.first_failure_at.isoformat(), error)
            transition_block(block, BlockStatus.failed)

    def _clear_failure(self, block: ProcessingBlockRow) -> None:
        block.attempt_count = 0
        block.first_failure_at = None
        block.last_error = None

    def collect(self, session: Session, workflow: WorkflowRow, dag: DagRow, now: datetime,
                blocks: list[ProcessingBlockRow] | None = None,
                pending: list[PendingRecord] | None = None) -> OutputReport:
        """``register`` then ``finish_blocks`` (what every poll of a DAG does), with one query for the
        blocks both need: the round's, and the workflow's still open or complete ones.  ``blocks`` and
        ``pending`` (the round's unregistered WUs) may be given by a caller that loaded them for many
        DAGs at once (the lifecycle's batches); they are then not queried."""
        if blocks is None:
            blocks = list(session.scalars(round_blocks_query(workflow.id, dag.round)))
        report = self.register(session, workflow, dag, now, [b for b in blocks if b.round == dag.round], pending)
        return self.finish_blocks(session, workflow, now, report, [b for b in blocks if b.status in UNFINISHED])

    # -- per work unit ---------------------------------------------------------------------------
    def register(self, session: Session, workflow: WorkflowRow, dag: DagRow, now: datetime,
                 round_blocks: list[ProcessingBlockRow] | None = None,
                 pending: list[PendingRecord] | None = None) -> OutputReport:
        """Register every completed, not yet registered WU of the round; then close finished blocks.

        One catalog call and one rule call per block per cycle carry every pending WU of the block (as
        DBS's bulk block insert and Rucio's multi-DID rule calls do): the cost of a cycle grows with the
        blocks touched, not with the WUs.  A WU is marked registered once every block it writes has it."""
        report = OutputReport()
        if pending is None:
            pending = [PendingRecord.of(row) for row in round_records(session, dag, pending_only=True)]
        if not pending:
            return report
        if round_blocks is None:
            round_blocks = list(session.scalars(select(ProcessingBlockRow).where(
                ProcessingBlockRow.workflow_id == workflow.id, ProcessingBlockRow.round == dag.round)))
        blocks = {b.dataset: b for b in round_blocks}
        catalog, rules = self.catalog_factory(session), self.rules_factory(session)
        by_dataset: dict[str, list[PendingRecord]] = {}
        for row in pending:
            for dataset in sorted({f["dataset"] for f in row.record.get("files", [])}):
                by_dataset.setdefault(dataset, []).append(row)
        incomplete: set[str] = set()
        for dataset, rows in sorted(by_dataset.items()):
            block = blocks.get(dataset)
            if block is None:
                report.failures.extend(f"{row.name}: no processing block for {dataset}" for row in rows)
                incomplete.update(row.name for row in rows)
                continue
            already = set(block.completed_work_units)
            todo = [row for row in rows if row.name not in already]
            if not todo:
                continue
            if block.status != BlockStatus.open or not self._due(block, now):
                incomplete.update(row.name for row in todo)
                continue
            try:
                with catalog_writes(session):
                    self._register_batch(block, dataset, todo, catalog, rules, report)
            except (RegistrationError, OSError) as exc:
                names = ", ".join(row.name for row in todo[:3]) + (" ..." if len(todo) > 3 else "")
                self._record_failure(block, now, f"{len(todo)} WU(s) ({names}): {exc}", report)
                incomplete.update(row.name for row in todo)
                continue
            self._clear_failure(block)
            block.last_attempt_at = now
            _write_progress(session, block, now)
        done = [row for row in pending if row.name not in incomplete]
        if done:
            self._mark_registered(session, [row.id for row in done])
            report.work_units_registered.extend(row.name for row in done)
        return report

    @staticmethod
    def _mark_registered(session: Session, ids: list[int]) -> None:
        session.connection().execute(_MARK_REGISTERED, {"ids": ids})
        for record_id in ids:  # rows loaded in this session: the same value, with nothing left to flush
            loaded = session.identity_map.get(identity_key(WorkUnitRecordRow, record_id))
            if loaded is not None:
                set_committed_value(loaded, "registered", True)

    def _register_batch(self, block: ProcessingBlockRow, dataset: str, todo: list[PendingRecord],
                        catalog: CatalogWriter, rules: RuleService, report: OutputReport) -> None:
        """Open the block, register the WUs' files, protect each WU at its source: all or nothing for
        WMS2's records (the calls are idempotent, so a partial success is simply repeated)."""
        name = block.catalog_block_name or block_name(dataset, block.workflow_id, block.round, block.block_index)
        catalog.open_block(dataset, name)
        block.catalog_block_name, block.is_open = name, True
        files = [f for row in todo for f in _files_for(row.record, dataset)]
        report.files_registered += catalog.register_files(dataset, name, files)
        rule_ids = rules.add_rules([
            RuleRequest(f"{name}/{row.name}", row.record.get("site") or "ANY", "source",
                        comment=f"WMS2 {self._workflow_name(block)}: protect {row.name} at source",
                        files=tuple(f.lfn for f in _files_for(row.record, dataset))) for row in todo])
        names = [row.name for row in todo]
        block.completed_work_units = [*block.completed_work_units, *names]
        block.source_rule_ids = {**block.source_rule_ids, **dict(zip(names, rule_ids, strict=True))}

    @staticmethod
    def _workflow_name(block: ProcessingBlockRow) -> str:
        """The request the block belongs to (named in rule comments, for operators)."""
        session = object_session(block)
        workflow = session.get(WorkflowRow, block.workflow_id) if session is not None else None
        return workflow.request_name if workflow is not None else f"workflow {block.workflow_id}"

    # -- per block -------------------------------------------------------------------------------
    def finish_blocks(self, session: Session, workflow: WorkflowRow, now: datetime,
                      report: OutputReport | None = None,
                      unfinished: list[ProcessingBlockRow] | None = None) -> OutputReport:
        """Close every block whose WUs are all registered, and archive closed blocks."""
        report = report or OutputReport()
        catalog, rules = self.catalog_factory(session), self.rules_factory(session)
        if unfinished is None:
            unfinished = list(session.scalars(select(ProcessingBlockRow).where(
                ProcessingBlockRow.workflow_id == workflow.id, ProcessingBlockRow.status.in_(UNFINISHED))
                .order_by(ProcessingBlockRow.id)))
        for block in unfinished:
            if block.status == BlockStatus.open and len(block.completed_work_units) < block.total_work_units:
                continue
            if not self._due(block, now):
                continue
            try:
                with catalog_writes(session):
                    self._close_and_archive(block, catalog, rules, report)
            except (RegistrationError, OSError) as exc:
                self._record_failure(block, now, f"closing/archiving: {exc}", report)
                continue
            self._clear_failure(block)
        return report

    def _close_and_archive(self, block: ProcessingBlockRow, catalog: CatalogWriter, rules: RuleService,
                           report: OutputReport) -> None:
        if block.catalog_block_name is None:
            raise RegistrationError("block has no catalog name: no WU was registered")
        name = block.catalog_block_name
        if block.status == BlockStatus.open:
            catalog.close_block(name)
            block.is_open = False
            transition_block(block, BlockStatus.complete)
            report.blocks_closed.append(name)
        workflow = self._workflow_name(block)
        block.archival_rule_id = rules.add_rule(name, self.settings.output.archival_rse, "archival",
                                                comment=f"WMS2 {workflow}: tape archival of the closed block")
        if self.settings.output.consolidation_rse:
            block.consolidation_rule_id = rules.add_rule(
                name, self.settings.output.consolidation_rse, "consolidation",
                comment=f"WMS2 {workflow}: disk consolidation")
        transition_block(block, BlockStatus.archived)
        report.blocks_archived.append(name)

    def invalidate(self, session: Session, workflow: WorkflowRow) -> int:
        """Catastrophic recovery: invalidate every block of the workflow and delete its rules."""
        catalog, rules = self.catalog_factory(session), self.rules_factory(session)
        count = 0
        for block in session.scalars(select(ProcessingBlockRow).where(ProcessingBlockRow.workflow_id == workflow.id)):
            if block.status == BlockStatus.invalidated:
                continue
            if block.catalog_block_name:
                count += catalog.invalidate_block(block.catalog_block_name)
            for rule_id in [*block.source_rule_ids.values(), block.archival_rule_id, block.consolidation_rule_id]:
                if rule_id:
                    rules.delete_rule(rule_id)
            transition_block(block, BlockStatus.invalidated)
        return count
