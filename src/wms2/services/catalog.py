"""Interfaces to the data catalog ("files of a dataset") and the replica service ("where are they").

The embedded implementation is :mod:`wms2.services.local_catalog`; DBS and Rucio clients implement the
same protocols later.  The selection rules (run white/black list, lumi mask, block lists) live here so
that every implementation applies them identically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class CatalogError(ValueError):
    """A catalog request cannot be answered (unknown dataset, malformed description...)."""


@dataclass(frozen=True, slots=True)
class LumiSection:
    run: int
    lumi: int
    events: int | None = None  # None: the catalog does not know the per-lumi count


@dataclass(frozen=True, slots=True)
class CatalogFile:
    """One file of a dataset as the catalog describes it (after any lumi/run selection)."""

    lfn: str
    size: int
    events: int
    checksum: str | None
    block: str
    lumis: tuple[LumiSection, ...] = ()
    parents: tuple[str, ...] = ()

    def lumis_by_run(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for ls in self.lumis:
            out.setdefault(ls.run, []).append(ls.lumi)
        for lumis in out.values():
            lumis.sort()
        return dict(sorted(out.items()))


@dataclass(frozen=True, slots=True)
class Replica:
    site: str
    is_tape: bool = False


@dataclass(frozen=True)
class FileSelection:
    """What a request selects from its input dataset."""

    run_whitelist: frozenset[int] = frozenset()
    run_blacklist: frozenset[int] = frozenset()
    lumi_mask: Mapping[int, Sequence[tuple[int, int]]] = field(default_factory=dict)
    block_whitelist: frozenset[str] = frozenset()
    block_blacklist: frozenset[str] = frozenset()

    def keeps_block(self, block: str) -> bool:
        if self.block_whitelist and block not in self.block_whitelist:
            return False
        return block not in self.block_blacklist

    def keeps_lumi(self, run: int, lumi: int) -> bool:
        if self.run_whitelist and run not in self.run_whitelist:
            return False
        if run in self.run_blacklist:
            return False
        if self.lumi_mask:
            ranges = self.lumi_mask.get(run)
            if not ranges:
                return False
            return any(first <= lumi <= last for first, last in ranges)
        return True

    @property
    def filters_lumis(self) -> bool:
        return bool(self.run_whitelist or self.run_blacklist or self.lumi_mask)


def apply_selection(files: Iterable[CatalogFile], selection: FileSelection) -> list[CatalogFile]:
    """Keep the selected blocks, and in each file only the selected lumis.

    A file that loses every lumi is dropped.  A file that loses some keeps the selected lumis and
    its event count becomes the selected lumis' events (per-lumi counts when known, else the file's
    events spread evenly over its lumis, see :func:`spread_events`).  Files without lumi
    information are kept whole unless a run list or mask is set (then nothing can prove they match).
    """
    kept: list[CatalogFile] = []
    for f in files:
        if not selection.keeps_block(f.block):
            continue
        if not selection.filters_lumis:
            kept.append(f)
            continue
        if not f.lumis:
            continue
        per_lumi = lumi_events(f)
        chosen = [(ls, n) for ls, n in zip(f.lumis, per_lumi, strict=True) if selection.keeps_lumi(ls.run, ls.lumi)]
        if not chosen:
            continue
        if len(chosen) == len(f.lumis):
            kept.append(f)
            continue
        kept.append(CatalogFile(
            lfn=f.lfn, size=f.size, events=sum(n for _, n in chosen), checksum=f.checksum, block=f.block,
            lumis=tuple(LumiSection(ls.run, ls.lumi, n) for ls, n in chosen), parents=f.parents,
        ))
    return kept


def spread_events(total: int, count: int) -> list[int]:
    """``total`` events over ``count`` lumis: equal shares, the remainder on the first lumis."""
    if count <= 0:
        return []
    base, extra = divmod(total, count)
    return [base + (1 if i < extra else 0) for i in range(count)]


def lumi_events(f: CatalogFile) -> list[int]:
    """Events per lumi of ``f``, in ``f.lumis`` order (known counts, else an even spread)."""
    if f.lumis and all(ls.events is not None for ls in f.lumis):
        return [int(ls.events or 0) for ls in f.lumis]
    return spread_events(f.events, len(f.lumis))


class DataCatalog(Protocol):
    """'Files of a dataset' (DBS-like)."""

    def dataset_exists(self, dataset: str) -> bool: ...

    def files(self, dataset: str, selection: FileSelection | None = None) -> list[CatalogFile]:
        """Valid files of ``dataset`` ordered by LFN, with the selection applied.

        Raises :class:`CatalogError` when the dataset is unknown.
        """
        ...


class ReplicaCatalog(Protocol):
    """'Where are the replicas' (Rucio-like)."""

    def replicas(self, lfns: Sequence[str]) -> dict[str, list[Replica]]:
        """Replicas per LFN (disk first, then by site name); LFNs without replicas map to ``[]``."""
        ...


class FullCatalog(DataCatalog, ReplicaCatalog, Protocol):
    """Both interfaces (what planning needs; the local catalog implements both)."""
