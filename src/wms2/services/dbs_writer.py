"""Output registration in DBS: one bulk block insertion per WMS2 block, exactly once.

:class:`DbsCatalogWriter` implements :class:`~wms2.services.outputs.CatalogWriter`.  DBS takes a block in
one ``insertBulkBlock`` call, already closed, as WMAgent's DBS3Buffer uploads it: ``register_files``
buffers the files in ``dbs_buffer_files`` (same transaction as the Output Manager's records) and
``close_block`` builds the payload (:mod:`wms2.services.dbs_payload`), checks it against every rule the
server applies (:mod:`wms2.services.dbs_validate`: a broken payload never leaves WMS2), inserts it, and
records the step in ``dbs_steps``.

Exactly once: a recorded step is skipped without a call.  When WMS2 dies after DBS accepted the block and
before the commit, the step runs again and DBS answers that the block already exists; the writer then lists
the block's files from DBS and takes the step as done only when they are exactly the buffered ones.
``WMS2_FAULT_KILL_AFTER=bulkblock`` (see :func:`wms2.services.rucio_steps.fault_point`) kills the process
in that window for the tests.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from wms2.db.base import utcnow
from wms2.db.dbs_tables import DbsBufferFileRow, DbsStepRow
from wms2.services.dbs_gateway import SERVICE, DbsCallError, DbsError, DbsGateway, is_block_exists
from wms2.services.dbs_payload import BlockMeta, BufferedFile, bulkblock_payload
from wms2.services.dbs_reader import DbsDataCatalog
from wms2.services.dbs_validate import PayloadError, check_bulkblock
from wms2.services.outputs import OutputFile, RegistrationError
from wms2.services.rucio_steps import fault_point

INSERTED, INVALIDATED = "bulkblock", "invalidate"


def _key(kind: str, name: str) -> str:
    return hashlib.sha256(f"{kind}|{name}".encode()).hexdigest()


class DbsStepLog:
    """Done DBS steps, read and written in the caller's session (committed with the caller's work)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def result(self, kind: str, name: str) -> str | None:
        """The recorded result (``""`` when done without one), or None when not done."""
        row = self.session.get(DbsStepRow, _key(kind, name))
        return None if row is None else (row.result or "")

    def mark(self, kind: str, name: str, result: str | None = None) -> None:
        if self.session.get(DbsStepRow, _key(kind, name)) is None:
            self.session.add(DbsStepRow(key=_key(kind, name), kind=kind, name=name, result=result, done_at=utcnow()))
            self.session.flush()


class DbsCatalogWriter:
    """:class:`~wms2.services.outputs.CatalogWriter` on DBS bulk block insertions."""

    def __init__(self, session: Session, gateway: DbsGateway, meta: Callable[[Session, str], BlockMeta],
                 clock: Callable[[], float] = time.time) -> None:
        self.session = session
        self.gw = gateway
        self.reader = DbsDataCatalog(gateway)
        self.steps = DbsStepLog(session)
        self._meta = meta
        self._clock = clock

    @staticmethod
    def _dataset_of(block: str) -> str:
        dataset, sep, _ = block.partition("#")
        if not sep:
            raise RegistrationError(f"{SERVICE}: {block} is not a block name (<dataset>#<id>)")
        return dataset

    def open_block(self, dataset: str, block: str) -> None:
        """Nothing to do in DBS yet (the block is inserted whole when it closes); checks the names."""
        if self._dataset_of(block) != dataset:
            raise RegistrationError(f"{SERVICE}: block {block} does not belong to dataset {dataset}")
        if self.steps.result(INSERTED, block) is not None:
            raise RegistrationError(f"{SERVICE}: block {block} is already inserted (closed) in DBS")

    def register_files(self, dataset: str, block: str, files: Sequence[OutputFile]) -> int:
        """Buffer the files not yet buffered for ``block``; return how many were added."""
        self.open_block(dataset, block)
        by_lfn = {f.lfn: f for f in files}
        if not by_lfn:
            return 0
        known: dict[str, str] = {lfn: b for lfn, b in self.session.execute(
            select(DbsBufferFileRow.lfn, DbsBufferFileRow.block).where(DbsBufferFileRow.lfn.in_(list(by_lfn))))}
        elsewhere = sorted(lfn for lfn, b in known.items() if b != block)
        if elsewhere:
            raise RegistrationError(f"{SERVICE}: {elsewhere[0]} is already buffered for another block")
        now = utcnow()
        new = [{"lfn": f.lfn, "block": block, "dataset": dataset, "created_at": now,
                "record": BufferedFile(f.lfn, f.size, f.adler32, f.events, f.lumis, f.parents, f.site,
                                       f.lumi_events).record()}
               for lfn, f in sorted(by_lfn.items()) if lfn not in known]
        if new:
            self.session.execute(insert(DbsBufferFileRow), new)
        return len(new)

    def _buffered(self, block: str) -> list[BufferedFile]:
        rows = self.session.execute(select(DbsBufferFileRow.lfn, DbsBufferFileRow.record)
                                    .where(DbsBufferFileRow.block == block).order_by(DbsBufferFileRow.lfn))
        return [BufferedFile.from_record(lfn, rec) for lfn, rec in rows]

    def payload(self, block: str) -> dict[str, object] | None:
        """The checked ``/bulkblocks`` document of ``block`` (None: nothing buffered)."""
        files = self._buffered(block)
        if not files:
            return None
        doc = bulkblock_payload(self._meta(self.session, self._dataset_of(block)), block, files,
                                int(self._clock()))
        try:
            check_bulkblock(doc)
        except PayloadError as exc:
            raise DbsCallError(f"{SERVICE} insertBulkBlock block={block}: not sent, the payload breaks DBS's"
                               f" rules: {exc}", call="insertBulkBlock", target=f"block={block}",
                               transient=False) from exc
        return doc

    def _confirm_existing(self, block: str, lfns: Iterable[str], exc: DbsError) -> None:
        """DBS says the block exists: done only if it holds exactly our files."""
        theirs, ours = set(self.reader.block_lfns(block)), set(lfns)
        if theirs != ours:
            missing, extra = sorted(ours - theirs), sorted(theirs - ours)
            raise DbsCallError(
                f"{SERVICE} insertBulkBlock block={block}: the block already exists in DBS with other files"
                f" (missing {missing[:3]}, unexpected {extra[:3]})", call="insertBulkBlock",
                target=f"block={block}", transient=False) from exc

    def close_block(self, block: str) -> None:
        if self.steps.result(INSERTED, block) is not None:
            return
        doc = self.payload(block)
        if doc is None:  # a block without files is never inserted (DBS blocks hold at least one file)
            self.steps.mark(INSERTED, block, result="0")
            return
        lfns = [str(f["logical_file_name"]) for f in doc["files"]]  # type: ignore[attr-defined]
        try:
            self.gw.call("insertBulkBlock", f"block={block}", lambda api: api.insertBulkBlock(doc), writer=True)
        except DbsCallError as exc:
            if not is_block_exists(exc, block):
                raise
            self._confirm_existing(block, lfns, exc)
        fault_point(INSERTED)
        self.steps.mark(INSERTED, block, result=str(len(lfns)))
        self.session.execute(delete(DbsBufferFileRow).where(DbsBufferFileRow.block == block))

    def invalidate_block(self, block: str) -> int:
        """Mark every file of the block invalid in DBS (``updateFileStatus``); a block not yet inserted
        only loses its buffered files.  Returns how many files."""
        done = self.steps.result(INVALIDATED, block)
        if done is not None:
            return int(done or 0)
        if self.steps.result(INSERTED, block) is None:
            count = len(self._buffered(block))
            self.session.execute(delete(DbsBufferFileRow).where(DbsBufferFileRow.block == block))
            self.steps.mark(INSERTED, block, result="0")  # an invalidated block is never inserted later
            self.steps.mark(INVALIDATED, block, result=str(count))
            return count
        lfns = self.reader.block_lfns(block)
        for lfn in lfns:  # one LFN per call: dbs2go's PUT /files applies an LFN condition only for one value
            self.gw.call("updateFileStatus", f"block={block} lfn={lfn}",
                         lambda api, x=lfn: api.updateFileStatus(logical_file_name=x, is_file_valid=0), writer=True)
        fault_point(INVALIDATED)
        self.steps.mark(INVALIDATED, block, result=str(len(lfns)))
        return len(lfns)
