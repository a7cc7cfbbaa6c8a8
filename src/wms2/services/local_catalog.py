"""The embedded data catalog and replica service: real tables in the WMS2 database.

``LocalCatalog`` answers "files of a dataset" and "where are the replicas" from the ``catalog_*``
tables.  :func:`load_dataset` stores a dataset description (JSON) and :func:`generate_dataset` makes
a realistic synthetic dataset, deterministic for a given seed.
"""

from __future__ import annotations

import random
import re
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from wms2.db.catalog_tables import (
    CatalogBlockRow,
    CatalogDatasetRow,
    CatalogFileRow,
    CatalogLumiRow,
    CatalogReplicaRow,
)
from wms2.domain.safety import DATASET_RE, SITE_RE, check_safe_text
from wms2.services.catalog import CatalogError, CatalogFile, FileSelection, LumiSection, Replica, apply_selection

LFN_RE = re.compile(r"^/store/[A-Za-z0-9_.\-/]+\Z")
TAPE_SUFFIXES = ("_Tape", "_MSS")  # CMS RSE naming for tape endpoints
DEFAULT_FILES_PER_BLOCK = 100  # typical DBS block size for generated data
BYTES_PER_EVENT_RANGE = (150_000, 450_000)  # RAW-like event sizes for generated files
FIRST_GENERATED_RUN = 300_000
_BULK = 5000  # rows per executemany batch


@dataclass(frozen=True)
class LoadSummary:
    dataset: str
    blocks: int
    files: int
    lumis: int
    events: int
    replicas: int


class LocalCatalog:
    """DataCatalog + ReplicaCatalog over the ``catalog_*`` tables of one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def dataset_exists(self, dataset: str) -> bool:
        return self.session.scalar(select(CatalogDatasetRow.id).where(CatalogDatasetRow.name == dataset)) is not None

    def files(self, dataset: str, selection: FileSelection | None = None) -> list[CatalogFile]:
        ds_id = self.session.scalar(select(CatalogDatasetRow.id).where(CatalogDatasetRow.name == dataset))
        if ds_id is None:
            raise CatalogError(f"dataset {dataset} is not in the local catalog (load or generate it first)")
        rows = self.session.execute(
            select(CatalogFileRow.id, CatalogFileRow.lfn, CatalogFileRow.size, CatalogFileRow.events,
                   CatalogFileRow.checksum, CatalogFileRow.parents, CatalogBlockRow.name)
            .join(CatalogBlockRow, CatalogBlockRow.id == CatalogFileRow.block_id)
            .where(CatalogFileRow.dataset_id == ds_id, CatalogFileRow.is_valid.is_(True))
        ).all()
        lumis: dict[int, list[LumiSection]] = {}
        for fid, run, lumi, events in self.session.execute(
            select(CatalogLumiRow.file_id, CatalogLumiRow.run, CatalogLumiRow.lumi, CatalogLumiRow.events)
            .join(CatalogFileRow, CatalogFileRow.id == CatalogLumiRow.file_id)
            .where(CatalogFileRow.dataset_id == ds_id)
        ):
            lumis.setdefault(fid, []).append(LumiSection(run, lumi, events))
        out = []
        for fid, lfn, size, events, checksum, parents, block in rows:
            ls = sorted(lumis.get(fid, []), key=lambda x: (x.run, x.lumi))
            out.append(CatalogFile(lfn=lfn, size=size, events=events, checksum=checksum, block=block,
                                   lumis=tuple(ls), parents=tuple(parents or ())))
        out.sort(key=lambda f: f.lfn)
        return apply_selection(out, selection or FileSelection())

    def replicas(self, lfns: Sequence[str]) -> dict[str, list[Replica]]:
        result: dict[str, list[Replica]] = {lfn: [] for lfn in lfns}
        wanted = list(result)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            for lfn, site, tape in self.session.execute(
                select(CatalogFileRow.lfn, CatalogReplicaRow.site, CatalogReplicaRow.is_tape)
                .join(CatalogFileRow, CatalogFileRow.id == CatalogReplicaRow.file_id)
                .where(CatalogFileRow.lfn.in_(chunk))
            ):
                result[lfn].append(Replica(site, bool(tape)))
        for reps in result.values():
            reps.sort(key=lambda r: (r.is_tape, r.site))
        return result


# -- loading ----------------------------------------------------------------------------------------
def _check_dataset(name: Any) -> str:
    if not isinstance(name, str) or not DATASET_RE.match(name):
        raise CatalogError(f"dataset: {name!r} is not a valid dataset name (/Primary/Processed/TIER)")
    return name


def _check_site(site: Any, where: str) -> str:
    if not isinstance(site, str) or not SITE_RE.match(site):
        raise CatalogError(f"{where}: {site!r} is not a valid CMS site name")
    return site


def _check_lfn(lfn: Any, where: str) -> str:
    if not isinstance(lfn, str) or not LFN_RE.match(lfn) or "/../" in lfn or "//" in lfn:
        raise CatalogError(f"{where}: {lfn!r} is not a valid LFN (/store/...)")
    return lfn


def _int_field(value: Any, where: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise CatalogError(f"{where}: must be an integer >= {minimum}, got {value!r}")
    return value


def _parse_lumis(value: Any, where: str) -> list[tuple[int, int, int | None]]:
    """``{"run": [lumi, ...]}`` or ``[[run, lumi], [run, lumi, events], ...]``."""
    out: list[tuple[int, int, int | None]] = []
    if isinstance(value, dict):
        for run, lumis in value.items():
            try:
                run_n = int(run)
            except ValueError:
                raise CatalogError(f"{where}: run {run!r} is not a number") from None
            if not isinstance(lumis, list):
                raise CatalogError(f"{where}.{run}: must be a list of lumi numbers")
            out.extend((run_n, _int_field(lumi, f"{where}.{run}", 1), None) for lumi in lumis)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, list) or len(item) not in (2, 3):
                raise CatalogError(f"{where}[{i}]: must be [run, lumi] or [run, lumi, events]")
            events = _int_field(item[2], f"{where}[{i}]") if len(item) == 3 else None
            out.append((_int_field(item[0], f"{where}[{i}]", 1), _int_field(item[1], f"{where}[{i}]", 1), events))
    elif value is not None:
        raise CatalogError(f"{where}: must be an object run -> lumis or a list of [run, lumi(, events)]")
    if len({(r, lumi) for r, lumi, _ in out}) != len(out):
        raise CatalogError(f"{where}: a lumi appears twice")
    return out


def _parse_replicas(fdoc: dict[str, Any], where: str) -> list[tuple[str, bool]]:
    reps: list[tuple[str, bool]] = []
    for site in fdoc.get("locations", []) or []:
        reps.append((_check_site(site, f"{where}.locations"), site.endswith(TAPE_SUFFIXES)))
    for r in fdoc.get("replicas", []) or []:
        if not isinstance(r, dict):
            raise CatalogError(f"{where}.replicas: entries must be objects {{site, tape}}")
        site = _check_site(r.get("site"), f"{where}.replicas")
        reps.append((site, bool(r.get("tape", site.endswith(TAPE_SUFFIXES)))))
    return list(dict.fromkeys(reps))


def load_dataset(session: Session, doc: Any) -> LoadSummary:
    """Store a dataset description::

        {"dataset": "/P/E-v1/TIER",
         "blocks": [{"name": "/P/E-v1/TIER#x", "files": [
             {"lfn": "/store/...", "size": 1, "events": 10, "checksum": "0a1b2c3d",
              "lumis": {"1": [1, 2]}, "parents": [], "locations": ["T2_CH_CERN"],
              "replicas": [{"site": "T1_US_FNAL_Tape", "tape": true}]}]}]}

    ``files`` at top level instead of ``blocks`` puts every file in one block.  Every error names
    the field at fault; nothing is written when any field is bad.
    """
    if not isinstance(doc, dict):
        raise CatalogError("<document>: must be a JSON object")
    dataset = _check_dataset(doc.get("dataset"))
    blocks = doc.get("blocks")
    if blocks is None:
        blocks = [{"name": f"{dataset}#{uuid.uuid5(uuid.NAMESPACE_URL, dataset)}", "files": doc.get("files", [])}]
    if not isinstance(blocks, list):
        raise CatalogError("blocks: must be a list")
    parsed: list[tuple[str, list[dict[str, Any]]]] = []
    for b, bdoc in enumerate(blocks):
        if not isinstance(bdoc, dict) or not isinstance(bdoc.get("files"), list):
            raise CatalogError(f"blocks[{b}]: must be an object with a files list")
        name = bdoc.get("name") or f"{dataset}#{b:04d}"
        if not isinstance(name, str) or not name.startswith(dataset + "#"):
            raise CatalogError(f"blocks[{b}].name: {name!r} must be '<dataset>#<id>'")
        check_safe_text(name)
        files = [_parse_file(fdoc, f"blocks[{b}].files[{i}]") for i, fdoc in enumerate(bdoc["files"])]
        parsed.append((name, files))
    return _store(session, dataset, parsed)


def _parse_file(fdoc: Any, where: str) -> dict[str, Any]:
    if not isinstance(fdoc, dict):
        raise CatalogError(f"{where}: must be an object")
    checksum = fdoc.get("checksum")
    if checksum is not None and (not isinstance(checksum, str) or not re.fullmatch(r"[0-9a-f]{8}", checksum)):
        raise CatalogError(f"{where}.checksum: must be 8 lowercase hex digits (adler32)")
    parents = fdoc.get("parents", []) or []
    if not isinstance(parents, list):
        raise CatalogError(f"{where}.parents: must be a list of LFNs")
    return {
        "lfn": _check_lfn(fdoc.get("lfn"), f"{where}.lfn"),
        "size": _int_field(fdoc.get("size", 0), f"{where}.size"),
        "events": _int_field(fdoc.get("events", 0), f"{where}.events"),
        "checksum": checksum,
        "parents": [_check_lfn(p, f"{where}.parents") for p in parents],
        "lumis": _parse_lumis(fdoc.get("lumis"), f"{where}.lumis"),
        "replicas": _parse_replicas(fdoc, where),
    }


def _store(session: Session, dataset: str, blocks: list[tuple[str, list[dict[str, Any]]]]) -> LoadSummary:
    if session.scalar(select(CatalogDatasetRow.id).where(CatalogDatasetRow.name == dataset)) is not None:
        raise CatalogError(f"dataset {dataset} is already in the local catalog")
    lfns = [f["lfn"] for _, files in blocks for f in files]
    if len(set(lfns)) != len(lfns):
        raise CatalogError("files: an LFN appears twice")
    ds = CatalogDatasetRow(name=dataset)
    session.add(ds)
    session.flush()
    n_lumis = n_reps = n_events = 0
    for name, files in blocks:
        block = CatalogBlockRow(dataset_id=ds.id, name=name, is_open=False)
        session.add(block)
        session.flush()
        for start in range(0, len(files), _BULK):
            chunk = files[start:start + _BULK]
            session.execute(insert(CatalogFileRow), [
                {"dataset_id": ds.id, "block_id": block.id, "lfn": f["lfn"], "size": f["size"],
                 "events": f["events"], "checksum": f["checksum"], "parents": f["parents"], "is_valid": True}
                for f in chunk
            ])
            ids = {lfn: fid for lfn, fid in session.execute(
                select(CatalogFileRow.lfn, CatalogFileRow.id).where(CatalogFileRow.lfn.in_([f["lfn"] for f in chunk]))
            )}
            lumi_rows = [{"file_id": ids[f["lfn"]], "run": r, "lumi": lu, "events": ev}
                         for f in chunk for r, lu, ev in f["lumis"]]
            rep_rows = [{"file_id": ids[f["lfn"]], "site": s, "is_tape": t} for f in chunk for s, t in f["replicas"]]
            for rows, table in ((lumi_rows, CatalogLumiRow), (rep_rows, CatalogReplicaRow)):
                for i in range(0, len(rows), _BULK):
                    session.execute(insert(table), rows[i:i + _BULK])
            n_lumis += len(lumi_rows)
            n_reps += len(rep_rows)
            n_events += sum(f["events"] for f in chunk)
    session.flush()
    return LoadSummary(dataset, len(blocks), len(lfns), n_lumis, n_events, n_reps)


# -- synthetic datasets -----------------------------------------------------------------------------
def generate_dataset(
    session: Session,
    dataset: str,
    files: int,
    events_per_file: int,
    lumis_per_file: int,
    runs: int | Sequence[int],
    sites: Sequence[str],
    seed: int = 0,
    files_per_block: int = DEFAULT_FILES_PER_BLOCK,
) -> LoadSummary:
    """Make and store a realistic synthetic dataset; the same arguments give the same dataset.

    Files are spread evenly over the runs (consecutive files share a run), each file holds
    ``lumis_per_file`` consecutive lumis of its run with the events spread over them, and sits on one
    or two of ``sites`` (names ending in ``_Tape``/``_MSS`` are tape replicas).
    """
    return load_dataset(session, generate_description(
        dataset, files, events_per_file, lumis_per_file, runs, sites, seed, files_per_block))


def generate_description(
    dataset: str,
    files: int,
    events_per_file: int,
    lumis_per_file: int,
    runs: int | Sequence[int],
    sites: Sequence[str],
    seed: int = 0,
    files_per_block: int = DEFAULT_FILES_PER_BLOCK,
) -> dict[str, Any]:
    """The dataset description :func:`generate_dataset` stores (see :func:`load_dataset`)."""
    _check_dataset(dataset)
    if files < 1 or events_per_file < 0 or lumis_per_file < 1 or files_per_block < 1:
        raise CatalogError("files, lumis-per-file and files-per-block must be >= 1, events-per-file >= 0")
    run_list = list(range(FIRST_GENERATED_RUN, FIRST_GENERATED_RUN + runs)) if isinstance(runs, int) else list(runs)
    if not run_list or any(r < 1 for r in run_list):
        raise CatalogError("runs: need at least one positive run number")
    if not sites:
        raise CatalogError("sites: need at least one site")
    for s in sites:
        _check_site(s, "sites")
    rng = random.Random(seed)
    _, primary, processed, tier = dataset.split("/")
    era, _, rest = processed.partition("-")
    rest = rest or "v1"
    next_lumi = dict.fromkeys(run_list, 1)
    blocks: list[dict[str, Any]] = []
    for i in range(files):
        if i % files_per_block == 0:
            blocks.append({"name": f"{dataset}#{uuid.UUID(int=rng.getrandbits(128), version=4)}", "files": []})
        run = run_list[i * len(run_list) // files]
        first = next_lumi[run]
        next_lumi[run] = first + lumis_per_file
        name = uuid.UUID(int=rng.getrandbits(128), version=4)
        lfn = (f"/store/data/{era}/{primary}/{tier}/{rest}/000/{run // 1000:03d}/{run % 1000:03d}/00000/"
               f"{str(name).upper()}.root")
        per_lumi = [events_per_file // lumis_per_file + (1 if k < events_per_file % lumis_per_file else 0)
                    for k in range(lumis_per_file)]
        chosen = [sites[rng.randrange(len(sites))]]
        if len(sites) > 1 and rng.random() < 0.5:
            chosen.append(sites[(sites.index(chosen[0]) + 1) % len(sites)])
        blocks[-1]["files"].append({
            "lfn": lfn,
            "size": events_per_file * rng.randint(*BYTES_PER_EVENT_RANGE),
            "events": events_per_file,
            "checksum": f"{zlib.adler32(lfn.encode()):08x}",
            "lumis": [[run, first + k, n] for k, n in enumerate(per_lumi)],
            "locations": chosen,
        })
    return {"dataset": dataset, "blocks": blocks}
