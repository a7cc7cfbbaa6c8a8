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

from sqlalchemy import select
from sqlalchemy.orm import Session

from wms2.config import Settings
from wms2.core.transitions import transition_block
from wms2.core.wu_records import round_records
from wms2.db.tables import DagRow, ProcessingBlockRow, WorkflowRow
from wms2.domain.enums import BlockStatus
from wms2.services.outputs import CatalogWriter, OutputFile, RegistrationError, RuleService, block_name

log = logging.getLogger(__name__)


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
        if (now - block.first_failure_at).total_seconds() >= self.settings.output.give_up_after_s:
            log.error("block %s round %d failed after %d attempts since %s: %s", block.dataset, block.round,
                      block.attempt_count, block.first_failure_at.isoformat(), error)
            transition_block(block, BlockStatus.failed)

    def _clear_failure(self, block: ProcessingBlockRow) -> None:
        block.attempt_count = 0
        block.first_failure_at = None
        block.last_error = None

    # -- per work unit ---------------------------------------------------------------------------
    def register(self, session: Session, workflow: WorkflowRow, dag: DagRow, now: datetime) -> OutputReport:
        """Register every completed, not yet registered WU of the round; then close finished blocks."""
        report = OutputReport()
        pending = round_records(session, dag, pending_only=True)
        if not pending:
            return report
        blocks = {b.dataset: b for b in session.scalars(select(ProcessingBlockRow).where(
            ProcessingBlockRow.workflow_id == workflow.id, ProcessingBlockRow.round == dag.round))}
        catalog, rules = self.catalog_factory(session), self.rules_factory(session)
        for row in pending:
            if self._register_wu(row.name, row.record, blocks, catalog, rules, now, report):
                row.registered = True
                report.work_units_registered.append(row.name)
        return report

    def _register_wu(self, wu_name: str, wu: dict[str, Any], blocks: dict[str, ProcessingBlockRow],
                     catalog: CatalogWriter, rules: RuleService, now: datetime, report: OutputReport) -> bool:
        datasets = sorted({f["dataset"] for f in wu.get("files", [])})
        done = True
        for dataset in datasets:
            block = blocks.get(dataset)
            if block is None:
                report.failures.append(f"{wu_name}: no processing block for {dataset}")
                done = False
                continue
            if wu_name in block.completed_work_units:
                continue
            if block.status != BlockStatus.open or not self._due(block, now):
                done = False
                continue
            try:
                name = block.catalog_block_name or block_name(dataset, block.workflow_id, block.round,
                                                               block.block_index)
                catalog.open_block(dataset, name)
                block.catalog_block_name, block.is_open = name, True
                report.files_registered += catalog.register_files(dataset, name, _files_for(wu, dataset))
                site = wu.get("site") or "ANY"
                rule = rules.add_rule(f"{name}/{wu_name}", site, "source", comment=f"protect {wu_name} at source")
            except (RegistrationError, OSError) as exc:
                self._record_failure(block, now, f"{wu_name}: {exc}", report)
                done = False
                continue
            self._clear_failure(block)
            block.last_attempt_at = now
            block.completed_work_units = [*block.completed_work_units, wu_name]
            block.source_rule_ids = {**block.source_rule_ids, wu_name: rule}
        return done

    # -- per block -------------------------------------------------------------------------------
    def finish_blocks(self, session: Session, workflow: WorkflowRow, now: datetime,
                      report: OutputReport | None = None) -> OutputReport:
        """Close every block whose WUs are all registered, and archive closed blocks."""
        report = report or OutputReport()
        catalog, rules = self.catalog_factory(session), self.rules_factory(session)
        stmt = select(ProcessingBlockRow).where(
            ProcessingBlockRow.workflow_id == workflow.id,
            ProcessingBlockRow.status.in_([BlockStatus.open, BlockStatus.complete]))
        for block in session.scalars(stmt.order_by(ProcessingBlockRow.id)):
            if block.status == BlockStatus.open and len(block.completed_work_units) < block.total_work_units:
                continue
            if not self._due(block, now):
                continue
            try:
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
        block.archival_rule_id = rules.add_rule(name, self.settings.output.archival_rse, "archival",
                                                comment="tape archival of the closed block")
        if self.settings.output.consolidation_rse:
            block.consolidation_rule_id = rules.add_rule(name, self.settings.output.consolidation_rse,
                                                         "consolidation", comment="disk consolidation")
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
