"""Where outputs are registered: the catalog writer (DBS-like) and the rule service (Rucio-like).

Both calls are idempotent by design, which is what makes the Output Manager exactly-once: a crash
between a registration and WMS2's own database write, or a repeated cycle, finds the files or the rule
already there and does not add them twice.  The embedded implementations live in the WMS2 database
(the local catalog tables and ``local_rules``); DBS and Rucio clients implement the same protocols.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from wms2.db.base import utcnow
from wms2.db.catalog_tables import (
    CatalogBlockRow,
    CatalogDatasetRow,
    CatalogFileRow,
    CatalogLumiRow,
    CatalogReplicaRow,
)
from wms2.db.tables import LocalRuleRow


class RegistrationError(RuntimeError):
    """A catalog or rule call failed; the Output Manager records it and retries with backoff."""


@dataclass(frozen=True)
class OutputFile:
    lfn: str
    size: int
    adler32: str
    events: int
    lumis: dict[int, list[int]] = field(default_factory=dict)
    parents: tuple[str, ...] = ()
    site: str | None = None


class CatalogWriter(Protocol):
    def open_block(self, dataset: str, block: str) -> None: ...

    def register_files(self, dataset: str, block: str, files: Sequence[OutputFile]) -> int:
        """Add the files not yet in ``block``; return how many were added."""
        ...

    def close_block(self, block: str) -> None: ...

    def invalidate_block(self, block: str) -> int:
        """Mark every file of the block invalid; return how many."""
        ...


class RuleService(Protocol):
    def add_rule(self, did: str, rse_expression: str, kind: str, comment: str = "", copies: int = 1) -> str:
        """Create the rule or return the id of the identical existing one."""
        ...

    def delete_rule(self, rule_id: str) -> None: ...


def block_name(dataset: str, workflow_id: int, round_: int, index: int) -> str:
    """A deterministic CMS block name ``<dataset>#<uuid-like>`` (the same on every retry)."""
    digest = hashlib.sha1(f"{dataset}|{workflow_id}|{round_}|{index}".encode()).hexdigest()
    uuid = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
    return f"{dataset}#{uuid}"


class LocalCatalogWriter:
    """Writes outputs into the embedded catalog tables (so later requests can read them as input)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _dataset(self, name: str) -> CatalogDatasetRow:
        row = self.session.scalar(select(CatalogDatasetRow).where(CatalogDatasetRow.name == name))
        if row is None:
            row = CatalogDatasetRow(name=name)
            self.session.add(row)
            self.session.flush()
        return row

    def _block(self, name: str) -> CatalogBlockRow | None:
        return self.session.scalar(select(CatalogBlockRow).where(CatalogBlockRow.name == name))

    def open_block(self, dataset: str, block: str) -> None:
        if self._block(block) is None:
            self.session.add(CatalogBlockRow(dataset_id=self._dataset(dataset).id, name=block, is_open=True))
            self.session.flush()

    def register_files(self, dataset: str, block: str, files: Sequence[OutputFile]) -> int:
        brow = self._block(block)
        if brow is None:
            raise RegistrationError(f"block {block} is not open")
        if not brow.is_open:
            raise RegistrationError(f"block {block} is closed")
        lfns = [f.lfn for f in files]
        existing = {
            lfn: block_id
            for lfn, block_id in self.session.execute(
                select(CatalogFileRow.lfn, CatalogFileRow.block_id).where(CatalogFileRow.lfn.in_(lfns))
            )
        }
        new: list[tuple[OutputFile, CatalogFileRow]] = []
        for f in files:
            if f.lfn in existing:
                if existing[f.lfn] != brow.id:
                    raise RegistrationError(f"{f.lfn} is already registered in another block")
                continue
            new.append((f, CatalogFileRow(dataset_id=brow.dataset_id, block_id=brow.id, lfn=f.lfn, size=f.size,
                                          events=f.events, checksum=f.adler32, parents=list(f.parents),
                                          is_valid=True)))
        if not new:
            return 0
        self.session.add_all(row for _, row in new)
        self.session.flush()  # one flush for the files (their ids), one for their lumis and replicas
        for f, frow in new:
            self.session.add_all(CatalogLumiRow(file_id=frow.id, run=run, lumi=lumi)
                                 for run, lumis in sorted(f.lumis.items()) for lumi in sorted(set(lumis)))
            if f.site:
                self.session.add(CatalogReplicaRow(file_id=frow.id, site=f.site, is_tape=False))
        self.session.flush()
        return len(new)

    def close_block(self, block: str) -> None:
        brow = self._block(block)
        if brow is None:
            raise RegistrationError(f"block {block} does not exist")
        brow.is_open = False

    def invalidate_block(self, block: str) -> int:
        brow = self._block(block)
        if brow is None:
            return 0
        rows = list(self.session.scalars(select(CatalogFileRow).where(CatalogFileRow.block_id == brow.id)))
        for row in rows:
            row.is_valid = False
        brow.is_open = False
        return len(rows)

    def block_files(self, block: str) -> list[str]:
        brow = self._block(block)
        if brow is None:
            return []
        return list(self.session.scalars(
            select(CatalogFileRow.lfn).where(CatalogFileRow.block_id == brow.id).order_by(CatalogFileRow.lfn)))


class LocalRuleService:
    """Rules in the ``local_rules`` table; a local rule is satisfied at once (no transfers here)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add_rule(self, did: str, rse_expression: str, kind: str, comment: str = "", copies: int = 1) -> str:
        existing = self.session.scalar(select(LocalRuleRow).where(
            LocalRuleRow.did == did, LocalRuleRow.rse_expression == rse_expression, LocalRuleRow.kind == kind))
        if existing is not None:
            if existing.deleted_at is not None:
                existing.deleted_at = None
                existing.state = "OK"
            return existing.id
        rule_id = hashlib.sha1(f"{did}|{rse_expression}|{kind}".encode()).hexdigest()[:32]
        self.session.add(LocalRuleRow(id=rule_id, did=did, rse_expression=rse_expression, kind=kind,
                                      copies=copies, comment=comment, state="OK"))
        self.session.flush()
        return rule_id

    def delete_rule(self, rule_id: str) -> None:
        row = self.session.get(LocalRuleRow, rule_id)
        if row is not None and row.deleted_at is None:
            row.deleted_at = utcnow()
            row.state = "DELETED"
