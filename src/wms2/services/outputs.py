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
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Insert, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

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


def dialect_insert(table: Table, dialect: str) -> Any:
    """The dialect's ``INSERT`` (which has ``on_conflict_do_nothing`` / ``on_conflict_do_update``)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect!r} (SQLite or PostgreSQL)")


class _CatalogBlock(NamedTuple):
    id: int
    dataset_id: int
    is_open: bool


_CATALOG_BLOCKS: Table = CatalogBlockRow.__table__  # type: ignore[assignment]
_CATALOG_FILES: Table = CatalogFileRow.__table__  # type: ignore[assignment]
_LOCAL_RULES: Table = LocalRuleRow.__table__  # type: ignore[assignment]
_BLOCK_BY_NAME = select(_CATALOG_BLOCKS.c.id, _CATALOG_BLOCKS.c.dataset_id, _CATALOG_BLOCKS.c.is_open).where(
    _CATALOG_BLOCKS.c.name == bindparam("name"))
_STATEMENTS: dict[tuple[str, str], Insert] = {}  # built once per dialect (SQLAlchemy caches their compilation)


def _files_insert(dialect: str) -> Insert:
    """New files only (``ON CONFLICT (lfn) DO NOTHING``), returning the ids of those inserted."""
    stmt = _STATEMENTS.get(("files", dialect))
    if stmt is None:
        stmt = _STATEMENTS["files", dialect] = (
            dialect_insert(_CATALOG_FILES, dialect).on_conflict_do_nothing(index_elements=["lfn"])
            .returning(_CATALOG_FILES.c.lfn, _CATALOG_FILES.c.id))
    return stmt


def _rules_upsert(dialect: str) -> Insert:
    """New rules inserted; a deleted one asked again is revived (``ON CONFLICT (id) DO UPDATE ... WHERE
    deleted``); a live one is left as it is."""
    stmt = _STATEMENTS.get(("rules", dialect))
    if stmt is None:
        ins = dialect_insert(_LOCAL_RULES, dialect)
        stmt = _STATEMENTS["rules", dialect] = ins.on_conflict_do_update(
            index_elements=["id"], set_={"deleted_at": None, "state": "OK"},
            where=_LOCAL_RULES.c.deleted_at.is_not(None))
    return stmt


PRELOADED_BLOCKS_KEY = "wms2.catalog_blocks"  # Session.info: {block name: _CatalogBlock}, each used once


def preload_catalog_blocks(session: Session, names: Sequence[str]) -> None:
    """Look up many embedded-catalog blocks in one query for the writers of this session (the lifecycle's
    batches: one query per batch instead of one per DAG).  Each entry is used once, by the first writer
    that looks the block up, so it can never outlive a rollback of what that writer did."""
    if not names:
        return
    columns = _CATALOG_BLOCKS.c
    rows = session.connection().execute(select(columns.name, columns.id, columns.dataset_id, columns.is_open)
                                        .where(columns.name.in_(names)))
    session.info[PRELOADED_BLOCKS_KEY] = {row.name: _CatalogBlock(row.id, row.dataset_id, row.is_open) for row in rows}


class LocalCatalogWriter:
    """Writes outputs into the embedded catalog tables (so later requests can read them as input).

    Registration is a handful of set-based statements per call whatever the number of files, as DBS's
    bulk block insert is one call per block: Core statements on the session's connection (no per-row ORM
    objects and no ORM bulk path, which costs more than the SQL itself at one call per DAG per cycle),
    and the files inserted with ``ON CONFLICT (lfn) DO NOTHING``, so the look-up of files already there
    runs only when some were (a repeated call after a crash)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._blocks: dict[str, _CatalogBlock] = {}  # rows already looked up in this unit of work

    def _dataset_id(self, name: str) -> int:
        found = self.session.scalar(select(CatalogDatasetRow.id).where(CatalogDatasetRow.name == name))
        if found is not None:
            return found
        row = CatalogDatasetRow(name=name)
        self.session.add(row)
        self.session.flush()
        return row.id

    def _block(self, name: str) -> _CatalogBlock | None:
        found = self._blocks.get(name)
        if found is None:
            preloaded = self.session.info.get(PRELOADED_BLOCKS_KEY)
            found = preloaded.pop(name, None) if isinstance(preloaded, dict) else None
            if found is not None:
                self._blocks[name] = found
                return found
            self.session.flush()  # a block opened or closed through the ORM in this unit of work
            row = self.session.connection().execute(_BLOCK_BY_NAME, {"name": name}).first()
            if row is not None:
                found = self._blocks[name] = _CatalogBlock(row.id, row.dataset_id, row.is_open)
        return found

    def open_block(self, dataset: str, block: str) -> None:
        if self._block(block) is None:
            row = CatalogBlockRow(dataset_id=self._dataset_id(dataset), name=block, is_open=True)
            self.session.add(row)
            self.session.flush()
            self._blocks[block] = _CatalogBlock(row.id, row.dataset_id, True)

    def register_files(self, dataset: str, block: str, files: Sequence[OutputFile]) -> int:
        brow = self._block(block)
        if brow is None:
            raise RegistrationError(f"block {block} is not open")
        if not brow.is_open:
            raise RegistrationError(f"block {block} is closed")
        by_lfn = {f.lfn: f for f in files}
        if not by_lfn:
            return 0
        conn = self.session.connection()
        ids: dict[str, int] = dict(conn.execute(  # type: ignore[arg-type]
            _files_insert(conn.dialect.name),
            [{"dataset_id": brow.dataset_id, "block_id": brow.id, "lfn": f.lfn, "size": f.size, "events": f.events,
              "checksum": f.adler32, "parents": list(f.parents), "is_valid": True} for f in by_lfn.values()]).all())
        new = [f for lfn, f in by_lfn.items() if lfn in ids]
        lumis = [{"file_id": ids[f.lfn], "run": run, "lumi": lumi}
                 for f in new for run, ls in sorted(f.lumis.items()) for lumi in sorted(set(ls))]
        if lumis:
            conn.execute(CatalogLumiRow.__table__.insert(), lumis)
        replicas = [{"file_id": ids[f.lfn], "site": f.site, "is_tape": False} for f in new if f.site]
        if replicas:
            conn.execute(CatalogReplicaRow.__table__.insert(), replicas)
        if len(new) < len(by_lfn):  # some were there already: in this block (a repeated call) or elsewhere
            there = [lfn for lfn in by_lfn if lfn not in ids]
            elsewhere = sorted(lfn for lfn, block_id in conn.execute(
                select(CatalogFileRow.lfn, CatalogFileRow.block_id).where(CatalogFileRow.lfn.in_(there)))
                if block_id != brow.id)
            if elsewhere:
                raise RegistrationError(f"{elsewhere[0]} is already registered in another block")
        return len(new)

    def close_block(self, block: str) -> None:
        brow = self._block(block)
        if brow is None:
            raise RegistrationError(f"block {block} does not exist")
        self._set_open(block, brow, False)

    def _set_open(self, name: str, brow: _CatalogBlock, is_open: bool) -> None:
        self.session.execute(update(CatalogBlockRow).where(CatalogBlockRow.id == brow.id).values(is_open=is_open))
        self._blocks[name] = _CatalogBlock(brow.id, brow.dataset_id, is_open)

    def invalidate_block(self, block: str) -> int:
        brow = self._block(block)
        if brow is None:
            return 0
        rows = list(self.session.scalars(select(CatalogFileRow).where(CatalogFileRow.block_id == brow.id)))
        for row in rows:
            row.is_valid = False
        self._set_open(block, brow, False)
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
        """One upsert for all the rules (no look-up first): new ones inserted, deleted ones revived."""
        ids = [_rule_id(r.did, r.rse_expression, r.kind) for r in requests]
        asked = dict(zip(ids, requests, strict=True))  # each rule once: an upsert may not touch a row twice
        if not asked:
            return ids
        if any(isinstance(row, LocalRuleRow) for row in self.session.dirty):
            self.session.flush()  # a rule deleted through the ORM in this unit of work: deleted in the table
        now = utcnow()
        conn = self.session.connection()
        conn.execute(_rules_upsert(conn.dialect.name), [
            {"id": rule_id, "did": r.did, "rse_expression": r.rse_expression, "kind": r.kind, "copies": r.copies,
             "comment": r.comment, "state": "OK", "created_at": now, "deleted_at": None}
            for rule_id, r in asked.items()])
        for rule_id in asked:  # rows loaded in this session may have been revived behind the ORM's back
            loaded = self.session.identity_map.get(identity_key(LocalRuleRow, rule_id))
            if loaded is not None:
                self.session.expire(loaded)
        return ids

    def delete_rule(self, rule_id: str) -> None:
        row = self.session.get(LocalRuleRow, rule_id)
        if row is not None and row.deleted_at is None:
            row.deleted_at = utcnow()
            row.state = "DELETED"
