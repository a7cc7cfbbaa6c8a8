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

from sqlalchemy import insert, select
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
    lumi_events: dict[int, dict[int, int]] = field(default_factory=dict)  # run -> lumi -> events, when known


class CatalogWriter(Protocol):
    def open_block(self, dataset: str, block: str) -> None: ...

    def register_files(self, dataset: str, block: str, files: Sequence[OutputFile]) -> int:
        """Add the files not yet in ``block``; return how many were added."""
        ...

    def close_block(self, block: str) -> None: ...

    def invalidate_block(self, block: str) -> int:
        """Mark every file of the block invalid; return how many."""
        ...


@dataclass(frozen=True)
class RuleRequest:
    did: str
    rse_expression: str
    kind: str
    comment: str = ""
    copies: int = 1
    files: tuple[str, ...] = ()  # a "source" rule: the WU's files (``did`` names the WU only)


class RuleService(Protocol):
    def add_rule(self, did: str, rse_expression: str, kind: str, comment: str = "", copies: int = 1) -> str:
        """Create the rule or return the id of the identical existing one."""
        ...

    def add_rules(self, requests: Sequence[RuleRequest]) -> list[str]:
        """``add_rule`` for many rules in one call; the ids in the order asked."""
        ...

    def delete_rule(self, rule_id: str) -> None: ...


def block_name(dataset: str, workflow_id: int, round_: int, index: int) -> str:
    """A deterministic CMS block name ``<dataset>#<uuid-like>`` (the same on every retry)."""
    digest = hashlib.sha1(f"{dataset}|{workflow_id}|{round_}|{index}".encode()).hexdigest()
    uuid = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
    return f"{dataset}#{uuid}"


class LocalCatalogWriter:
    """Writes outputs into the embedded catalog tables (so later requests can read them as input).

    Registration is a handful of set-based statements per call whatever the number of files (bulk
    inserts, no per-row ORM objects), as DBS's bulk block insert is one call per block."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._blocks: dict[str, CatalogBlockRow] = {}  # rows already looked up in this unit of work

    def _dataset_id(self, name: str) -> int:
        found = self.session.scalar(select(CatalogDatasetRow.id).where(CatalogDatasetRow.name == name))
        if found is not None:
            return found
        row = CatalogDatasetRow(name=name)
        self.session.add(row)
        self.session.flush()
        return row.id

    def _block(self, name: str) -> CatalogBlockRow | None:
        row = self._blocks.get(name)
        if row is None:
            row = self.session.scalar(select(CatalogBlockRow).where(CatalogBlockRow.name == name))
            if row is not None:
                self._blocks[name] = row
        return row

    def open_block(self, dataset: str, block: str) -> None:
        if self._block(block) is None:
            row = CatalogBlockRow(dataset_id=self._dataset_id(dataset), name=block, is_open=True)
            self.session.add(row)
            self.session.flush()
            self._blocks[block] = row

    def register_files(self, dataset: str, block: str, files: Sequence[OutputFile]) -> int:
        brow = self._block(block)
        if brow is None:
            raise RegistrationError(f"block {block} is not open")
        if not brow.is_open:
            raise RegistrationError(f"block {block} is closed")
        by_lfn = {f.lfn: f for f in files}
        existing: dict[str, int] = {lfn: block_id for lfn, block_id in self.session.execute(
            select(CatalogFileRow.lfn, CatalogFileRow.block_id).where(CatalogFileRow.lfn.in_(list(by_lfn))))}
        elsewhere = sorted(lfn for lfn, block_id in existing.items() if block_id != brow.id)
        if elsewhere:
            raise RegistrationError(f"{elsewhere[0]} is already registered in another block")
        new = [f for lfn, f in by_lfn.items() if lfn not in existing]
        if not new:
            return 0
        now = utcnow()
        ids: dict[str, int] = {lfn: file_id for lfn, file_id in self.session.execute(
            insert(CatalogFileRow).returning(CatalogFileRow.lfn, CatalogFileRow.id),
            [{"dataset_id": brow.dataset_id, "block_id": brow.id, "lfn": f.lfn, "size": f.size, "events": f.events,
              "checksum": f.adler32, "parents": list(f.parents), "is_valid": True, "created_at": now}
             for f in new])}
        lumis = [{"file_id": ids[f.lfn], "run": run, "lumi": lumi}
                 for f in new for run, ls in sorted(f.lumis.items()) for lumi in sorted(set(ls))]
        if lumis:
            self.session.execute(insert(CatalogLumiRow), lumis)
        replicas = [{"file_id": ids[f.lfn], "site": f.site, "is_tape": False} for f in new if f.site]
        if replicas:
            self.session.execute(insert(CatalogReplicaRow), replicas)
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


def _rule_id(did: str, rse_expression: str, kind: str) -> str:
    """Deterministic, so the same rule asked twice is found by its key."""
    return hashlib.sha1(f"{did}|{rse_expression}|{kind}".encode()).hexdigest()[:32]


class LocalRuleService:
    """Rules in the ``local_rules`` table; a local rule is satisfied at once (no transfers here)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add_rule(self, did: str, rse_expression: str, kind: str, comment: str = "", copies: int = 1) -> str:
        return self.add_rules([RuleRequest(did, rse_expression, kind, comment, copies)])[0]

    def add_rules(self, requests: Sequence[RuleRequest]) -> list[str]:
        ids = [_rule_id(r.did, r.rse_expression, r.kind) for r in requests]
        found = {row.id: row for row in self.session.scalars(select(LocalRuleRow).where(LocalRuleRow.id.in_(ids)))}
        missing: dict[str, RuleRequest] = {}
        for rule_id, r in zip(ids, requests, strict=True):
            row = found.get(rule_id)
            if row is None:
                missing.setdefault(rule_id, r)
            elif row.deleted_at is not None:
                row.deleted_at, row.state = None, "OK"
        if missing:
            now = utcnow()
            self.session.execute(insert(LocalRuleRow), [
                {"id": rule_id, "did": r.did, "rse_expression": r.rse_expression, "kind": r.kind, "copies": r.copies,
                 "comment": r.comment, "state": "OK", "created_at": now} for rule_id, r in missing.items()])
        return ids

    def delete_rule(self, rule_id: str) -> None:
        row = self.session.get(LocalRuleRow, rule_id)
        if row is not None and row.deleted_at is None:
            row.deleted_at = utcnow()
            row.state = "DELETED"
