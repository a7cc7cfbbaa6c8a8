"""CRIC's site tables as typed objects: parsing and checking (no I/O).

Two presets of ``/api/cms/site/query/?json`` (``cms-formats.md`` §5):

- ``site-names``: rows ``(type, site_name, alias)``.  ``type`` is ``psn`` (processing site name: the
  name jobs, whitelists and ``GLIDEIN_CMSSite`` use), ``phedex`` (storage node, PNN = Rucio RSE name),
  ``cms`` or ``lcg``; ``site_name`` is the facility (CRIC rcsite);
- ``data-processing``: rows ``(phedex_name, psn_name)``: which PSNs may read which PNN.

CRIC answers with a flattened table ``{"desc": {"columns": [...]}, "result": [[...], ...]}``; WMCore's
mock (``CRICMockData.json``) keeps the unflattened list of objects, optionally under the preset's key.
All three shapes go through :func:`table_rows`.  Every error names the source (file or URL), and the
row and column at fault.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from wms2.services.sites import SiteCatalogError

PRESET_SITE_NAMES = "site-names"
PRESET_DATA_PROCESSING = "data-processing"
SITE_NAMES_COLUMNS = ("type", "site_name", "alias")
DATA_PROCESSING_COLUMNS = ("phedex_name", "psn_name")
PSN, PNN = "psn", "phedex"  # the two site-names row types WMS2 uses; ``cms`` and ``lcg`` are ignored
# CMS site and storage node names (WMCore ``Lexicon.cmsname``, the Rucio CMS RSE schema); used with
# fullmatch, so a trailing newline cannot slip through as it would with ``$``.
CMS_NAME_RE = re.compile(r"T[0-3]_[A-Z]{2}(?:_[A-Za-z0-9]+)+")
MAX_NAME_LENGTH = 100  # longest CMS name accepted (real ones are under 40 characters)
MAX_FACILITY_LENGTH = 200  # facility (rcsite) names are short labels such as "USCMS-FNAL-WC1"
_TAPE = ("_Tape", "_MSS")
_BUFFER = ("_Buffer", "_Export")
_TEST = ("_Temp", "_Test")


class CricError(SiteCatalogError):
    """A CRIC table is unreadable or malformed; the message names the source, row and column."""


class StorageKind(StrEnum):
    """What a storage node (PNN) is, from CMS naming (``cms-formats.md`` §4.2)."""

    disk = "disk"
    tape = "tape"  # ``_Tape``, ``_MSS``
    buffer = "buffer"  # ``_Buffer``, ``_Export``: tape front-ends, not where jobs read or write
    test = "test"  # ``_Temp``, ``_Test``


def storage_kind(pnn: str) -> StorageKind:
    for suffixes, kind in ((_TAPE, StorageKind.tape), (_BUFFER, StorageKind.buffer), (_TEST, StorageKind.test)):
        if pnn.endswith(suffixes):
            return kind
    return StorageKind.disk


@dataclass(frozen=True)
class StorageNode:
    name: str  # PNN = Rucio RSE
    facility: str | None
    kind: StorageKind


@dataclass(frozen=True)
class ProcessingSite:
    name: str  # PSN = the GLIDEIN_CMSSite value of the site's slots
    facility: str | None
    tier: int
    storage: tuple[str, ...] = ()  # PNNs the site may read (data-processing), sorted


@dataclass(frozen=True)
class CricTopology:
    """Processing sites, storage nodes and the read links between them."""

    sites: Mapping[str, ProcessingSite]
    nodes: Mapping[str, StorageNode]
    readers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # PNN -> PSNs reading it, sorted
    source: str = "CRIC"

    def output_rse(self, psn: str) -> str | None:
        """The disk node where ``psn``'s jobs write: ``<psn>_Disk``, else the node named like the site,
        else the only disk node it reads; None when unknown or ambiguous."""
        site = self.sites.get(psn)
        if site is None:
            return None
        disk = [p for p in site.storage if self.kind(p) is StorageKind.disk]
        for preferred in (f"{psn}_Disk", psn):
            if preferred in disk:
                return preferred
        return disk[0] if len(disk) == 1 else None

    def output_rses(self) -> dict[str, str]:
        """PSN -> output RSE for every site CRIC resolves."""
        found = {psn: self.output_rse(psn) for psn in self.sites}
        return {psn: rse for psn, rse in found.items() if rse is not None}

    def kind(self, pnn: str) -> StorageKind:
        node = self.nodes.get(pnn)
        return node.kind if node else storage_kind(pnn)

    def psns_reading(self, pnn: str) -> tuple[str, ...]:
        return self.readers.get(pnn, ())


# -- generic table reading ---------------------------------------------------------------------------
def decode_json(raw: bytes, source: str, max_bytes: int) -> Any:
    if len(raw) > max_bytes:
        raise CricError(f"{source}: {len(raw)} bytes, more than the {max_bytes} accepted (sites.cric_max_bytes)")
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise CricError(f"{source}: not UTF-8 text: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CricError(f"{source}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def table_rows(doc: Any, source: str, preset: str, columns: Sequence[str], max_rows: int) -> list[dict[str, str]]:
    """The rows of a CRIC table as dicts holding ``columns`` (extra columns are dropped), each value a string."""
    if isinstance(doc, dict) and "desc" not in doc and preset in doc:  # WMCore mock: {"site-names": [...], ...}
        doc, source = doc[preset], f"{source} [{preset!r}]"
    if isinstance(doc, dict):
        raw_rows = _flattened(doc, source, columns)
    elif isinstance(doc, list):
        raw_rows = doc
    else:
        raise CricError(f"{source}: expected a CRIC table (an object with desc.columns and result, or a list"
                        f" of objects), got {type(doc).__name__}")
    if len(raw_rows) > max_rows:
        raise CricError(f"{source}: {len(raw_rows)} rows, more than the {max_rows} accepted (sites.cric_max_rows)")
    return [_row(r, i, source, columns) for i, r in enumerate(raw_rows)]


def _flattened(doc: dict[str, Any], source: str, columns: Sequence[str]) -> list[Any]:
    desc = doc.get("desc")
    names = desc.get("columns") if isinstance(desc, dict) else None
    if not isinstance(names, list) or not all(isinstance(c, str) for c in names):
        raise CricError(f"{source}: desc.columns is missing or not a list of column names")
    if len(set(names)) != len(names):
        raise CricError(f"{source}: desc.columns names a column twice: {names}")
    missing = [c for c in columns if c not in names]
    if missing:
        raise CricError(f"{source}: desc.columns lacks column(s) {missing} (has {names})")
    rows = doc.get("result")
    if not isinstance(rows, list):
        raise CricError(f"{source}: result is missing or not a list of rows")
    out: list[Any] = []
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names):
            raise CricError(f"{source}: result[{i}] is not a list of the {len(names)} columns {names}")
        out.append(dict(zip(names, row, strict=True)))
    return out


def _row(row: Any, i: int, source: str, columns: Sequence[str]) -> dict[str, str]:
    if not isinstance(row, dict):
        raise CricError(f"{source}: row {i} is a {type(row).__name__}, not an object")
    out: dict[str, str] = {}
    for col in columns:
        if col not in row:
            raise CricError(f"{source}: row {i} has no column {col!r}")
        value = row[col]
        if not isinstance(value, str):
            raise CricError(f"{source}: row {i} column {col!r}: expected a string, got {type(value).__name__}"
                            f" {_show(value)}")
        out[col] = value
    return out


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def cms_name(value: str, source: str, i: int, col: str) -> str:
    """A PSN or PNN: the CMS name pattern in full (no quotes, spaces, slashes, dots or newlines)."""
    if len(value) > MAX_NAME_LENGTH or not CMS_NAME_RE.fullmatch(value):
        raise CricError(f"{source}: row {i} column {col!r}: {_show(value)} is not a CMS site or storage name"
                        f" (expected {CMS_NAME_RE.pattern}, at most {MAX_NAME_LENGTH} characters)")
    return value


def _facility(value: str, source: str, i: int) -> str | None:
    # Display text only, never rendered into a submit file; still printable characters only.
    if len(value) > MAX_FACILITY_LENGTH or not value.isprintable():
        raise CricError(f"{source}: row {i} column 'site_name': {_show(value)} has unprintable characters or is"
                        f" longer than {MAX_FACILITY_LENGTH}")
    return value or None


# -- the two presets ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class NameRow:
    type: str  # psn | phedex
    facility: str | None
    name: str


def parse_site_names(doc: Any, source: str, max_rows: int) -> list[NameRow]:
    """The ``psn`` and ``phedex`` rows; a name listed twice with the same type is refused."""
    out: list[NameRow] = []
    first: dict[tuple[str, str], int] = {}
    for i, row in enumerate(table_rows(doc, source, PRESET_SITE_NAMES, SITE_NAMES_COLUMNS, max_rows)):
        kind = row["type"]
        if kind not in (PSN, PNN):
            continue
        name = cms_name(row["alias"], source, i, "alias")
        facility = _facility(row["site_name"], source, i)
        key = (kind, name)
        if key in first:
            raise CricError(f"{source}: row {i} lists {kind} {name} again (first at row {first[key]})")
        first[key] = i
        out.append(NameRow(kind, facility, name))
    return out


def parse_data_processing(doc: Any, source: str, max_rows: int) -> list[tuple[str, str]]:
    """``(pnn, psn)`` read links; a link listed twice is refused."""
    out: list[tuple[str, str]] = []
    first: dict[tuple[str, str], int] = {}
    for i, row in enumerate(table_rows(doc, source, PRESET_DATA_PROCESSING, DATA_PROCESSING_COLUMNS, max_rows)):
        link = (cms_name(row["phedex_name"], source, i, "phedex_name"),
                cms_name(row["psn_name"], source, i, "psn_name"))
        if link in first:
            raise CricError(f"{source}: row {i} repeats the link {link[0]} -> {link[1]} (first at row {first[link]})")
        first[link] = i
        out.append(link)
    return out


def build_topology(names: Iterable[NameRow], links: Iterable[tuple[str, str]], source: str) -> CricTopology:
    """Sites are the ``psn`` rows; storage nodes the ``phedex`` rows (plus any PNN only named by a link)."""
    names = list(names)
    links = list(links)
    readable: dict[str, set[str]] = {}
    readers: dict[str, set[str]] = {}
    for pnn, psn in links:
        readable.setdefault(psn, set()).add(pnn)
        readers.setdefault(pnn, set()).add(psn)
    nodes = {r.name: StorageNode(r.name, r.facility, storage_kind(r.name)) for r in names if r.type == PNN}
    for pnn in readers:
        nodes.setdefault(pnn, StorageNode(pnn, None, storage_kind(pnn)))
    sites = {r.name: ProcessingSite(r.name, r.facility, int(r.name[1]), tuple(sorted(readable.get(r.name, ()))))
             for r in names if r.type == PSN}
    return CricTopology(
        sites=dict(sorted(sites.items())), nodes=dict(sorted(nodes.items())),
        readers={pnn: tuple(sorted(psns)) for pnn, psns in sorted(readers.items())}, source=source)
