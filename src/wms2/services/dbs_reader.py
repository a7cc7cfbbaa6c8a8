"""Inputs from DBS: datasets, blocks, valid files with their lumis (and per-lumi events) and parents.

:class:`DbsDataCatalog` implements :class:`~wms2.services.catalog.DataCatalog` with the real
``dbs3-client`` (``DbsApi(aggregate=True)``, the default: the client folds dbs2go's one-row-per-lumi
and one-row-per-parent answers into lists).  Per selected block it makes three calls: ``listFiles``
(``detail``, ``validFileOnly=1``), ``listFileLumis`` (``validFileOnly=1``) and ``listFileParents``.
DBS has no replica locations: :class:`~wms2.services.rucio_catalog.CmsCatalog` combines this catalog
with Rucio's.

Every answer is checked row by row; a missing key or a value of the wrong type raises
:class:`~wms2.services.dbs_gateway.DbsCallError` naming DBS, the call, the dataset/block and the row:
nothing is returned from a half-understood answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wms2.services.catalog import CatalogFile, FileSelection, LumiSection, apply_selection
from wms2.services.dbs_gateway import SERVICE, DbsCallError, DbsGateway

# dbs2go fills adler32 with this when the checksum was never set (seen in dbs2go's test answers).
ADLER32_NOTSET = "NOTSET"
INVALID_ACCESS_TYPES = frozenset({"INVALID", "DEPRECATED", "DELETED"})


@dataclass(frozen=True, slots=True)
class DbsDataset:
    name: str
    access_type: str
    primary_ds_type: str | None = None


@dataclass(frozen=True, slots=True)
class DbsBlock:
    name: str
    is_open: bool
    origin_site: str | None
    file_count: int
    size: int


class _Rows:
    """Checks one answer: a list of JSON objects with the keys a call must return."""

    def __init__(self, call: str, target: str, answer: Any) -> None:
        self.call, self.target = call, target
        if not isinstance(answer, list):
            self.fail(f"expected a JSON list of rows, got {type(answer).__name__}")
        for i, row in enumerate(answer):
            if not isinstance(row, dict):
                self.fail(f"row {i} is {type(row).__name__}, not a JSON object")
        self.rows: list[dict[str, Any]] = answer

    def fail(self, what: str) -> None:
        raise DbsCallError(f"{SERVICE} {self.call} {self.target}: malformed answer: {what}", call=self.call,
                           target=self.target, transient=False)

    def get(self, i: int, key: str, kind: type | tuple[type, ...], optional: bool = False) -> Any:
        row = self.rows[i]
        if key not in row:
            self.fail(f"row {i} has no {key!r} (keys: {sorted(row)[:12]})")
        value = row[key]
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, kind):
            self.fail(f"row {i}: {key}={value!r} is not {getattr(kind, '__name__', kind)}")
        return value

    def int_list(self, i: int, key: str, optional_items: bool = False) -> list[int | None]:
        value = self.get(i, key, (list, int))
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item is None and optional_items:
                continue
            if isinstance(item, bool) or not isinstance(item, int):
                self.fail(f"row {i}: {key} holds {item!r}, not an integer")
        return list(items)


class DbsDataCatalog:
    """:class:`~wms2.services.catalog.DataCatalog` on DBS (inputs only; locations come from Rucio)."""

    def __init__(self, gateway: DbsGateway) -> None:
        self.gw = gateway

    # -- datasets and blocks -----------------------------------------------------------------------
    def dataset(self, dataset: str) -> DbsDataset | None:
        """The dataset whatever its access type (``dataset_access_type='*'``), or None."""
        target = f"dataset={dataset}"
        answer = self.gw.call("listDatasets", target, lambda api: api.listDatasets(
            dataset=dataset, dataset_access_type="*", detail=True))
        rows = _Rows("listDatasets", target, answer)
        for i in range(len(rows.rows)):
            if rows.get(i, "dataset", str) == dataset:
                return DbsDataset(dataset, rows.get(i, "dataset_access_type", str),
                                  rows.get(i, "primary_ds_type", str, optional=True)
                                  if "primary_ds_type" in rows.rows[i] else None)
        return None

    def dataset_exists(self, dataset: str) -> bool:
        return self.dataset(dataset) is not None

    def blocks(self, dataset: str) -> list[DbsBlock]:
        target = f"dataset={dataset}"
        answer = self.gw.call("listBlocks", target, lambda api: api.listBlocks(dataset=dataset, detail=True))
        rows = _Rows("listBlocks", target, answer)
        out = []
        for i in range(len(rows.rows)):
            name = rows.get(i, "block_name", str)
            if not name.startswith(f"{dataset}#"):
                rows.fail(f"row {i}: block {name} does not belong to {dataset}")
            out.append(DbsBlock(name, bool(rows.get(i, "open_for_writing", int)),
                                rows.get(i, "origin_site_name", str, optional=True),
                                int(rows.get(i, "file_count", int, optional=True) or 0),
                                int(rows.get(i, "block_size", int, optional=True) or 0)))
        return sorted(out, key=lambda b: b.name)

    # -- files of one block ------------------------------------------------------------------------
    def _lumis(self, block: str) -> dict[str, list[LumiSection]]:
        target = f"block={block}"
        answer = self.gw.call("listFileLumis", target, lambda api: api.listFileLumis(
            block_name=block, validFileOnly=1))
        rows = _Rows("listFileLumis", target, answer)
        out: dict[str, list[LumiSection]] = {}
        for i in range(len(rows.rows)):
            lfn = rows.get(i, "logical_file_name", str)
            run = rows.get(i, "run_num", int)
            lumis = rows.int_list(i, "lumi_section_num")
            events: list[int | None] = [None] * len(lumis)
            if "event_count" in rows.rows[i] and rows.rows[i]["event_count"] is not None:
                events = rows.int_list(i, "event_count", optional_items=True)
                if len(events) != len(lumis):
                    rows.fail(f"row {i}: {len(lumis)} lumi sections but {len(events)} event counts")
            out.setdefault(lfn, []).extend(
                LumiSection(run, int(ls or 0), n) for ls, n in zip(lumis, events, strict=True))
        return out

    def _parents(self, block: str) -> dict[str, tuple[str, ...]]:
        target = f"block={block}"
        answer = self.gw.call("listFileParents", target, lambda api: api.listFileParents(block_name=block))
        rows = _Rows("listFileParents", target, answer)
        out: dict[str, tuple[str, ...]] = {}
        for i in range(len(rows.rows)):
            lfn = rows.get(i, "logical_file_name", str)
            parents = rows.get(i, "parent_logical_file_name", (list, str))
            parents = parents if isinstance(parents, list) else [parents]
            if not all(isinstance(p, str) for p in parents):
                rows.fail(f"row {i}: parent_logical_file_name holds a non-string")
            out[lfn] = tuple(sorted({*out.get(lfn, ()), *parents}))
        return out

    def block_files(self, block: str) -> list[CatalogFile]:
        """The valid files of ``block`` with their lumis and parents, ordered by LFN."""
        target = f"block={block}"
        answer = self.gw.call("listFiles", target, lambda api: api.listFiles(
            block_name=block, detail=True, validFileOnly=1))
        rows = _Rows("listFiles", target, answer)
        lumis, parents = self._lumis(block), self._parents(block)
        files: dict[str, CatalogFile] = {}
        for i in range(len(rows.rows)):
            lfn = rows.get(i, "logical_file_name", str)
            if rows.get(i, "block_name", str) != block:
                rows.fail(f"row {i}: {lfn} is in block {rows.rows[i]['block_name']}, not {block}")
            if rows.get(i, "is_file_valid", int, optional=True) == 0:
                continue  # validFileOnly=1 should have dropped it; never hand out an invalid file
            ls = tuple(sorted(lumis.get(lfn, []), key=lambda x: (x.run, x.lumi)))
            events = rows.get(i, "event_count", int, optional=True)
            if events is None:  # DBS may not know the file's count: the per-lumi counts when complete
                events = sum(x.events or 0 for x in ls) if ls and all(x.events is not None for x in ls) else 0
            adler = rows.get(i, "adler32", str, optional=True)
            files[lfn] = CatalogFile(
                lfn=lfn, size=int(rows.get(i, "file_size", int)), events=int(events),
                checksum=None if adler in (None, "", ADLER32_NOTSET) else adler, block=block,
                lumis=ls, parents=parents.get(lfn, ()))
        return [files[k] for k in sorted(files)]

    # -- the DataCatalog protocol ------------------------------------------------------------------
    def files(self, dataset: str, selection: FileSelection | None = None) -> list[CatalogFile]:
        """Valid files of ``dataset`` ordered by LFN, with the selection applied (blocks filtered
        before their files are asked for).  Raises :class:`CatalogError` for an unknown dataset."""
        found = self.dataset(dataset)
        if found is None:
            raise DbsCallError(f"{SERVICE} listDatasets dataset={dataset}: dataset {dataset} is not in DBS",
                               call="listDatasets", target=f"dataset={dataset}", transient=False)
        if found.access_type in INVALID_ACCESS_TYPES:
            return []  # DBS counts every file of an INVALID/DEPRECATED/DELETED dataset as invalid
        selection = selection or FileSelection()
        out: list[CatalogFile] = []
        for block in self.blocks(dataset):
            if selection.keeps_block(block.name):
                out.extend(self.block_files(block.name))
        return sorted(apply_selection(out, selection), key=lambda f: f.lfn)

    def block_lfns(self, block: str) -> list[str]:
        """Every LFN of ``block``, valid or not (what an invalidation has to reach)."""
        target = f"block={block}"
        answer = self.gw.call("listFiles", target, lambda api: api.listFiles(block_name=block))
        rows = _Rows("listFiles", target, answer)
        return sorted({rows.get(i, "logical_file_name", str) for i in range(len(rows.rows))})

