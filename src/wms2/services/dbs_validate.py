"""What a DBS ``/bulkblocks`` payload must satisfy before WMS2 sends it.

No DBS server runs here, so the writer checks its payloads against the rules the real server (dmwm/dbs2go)
and the real client (dbs3-client 4.0.19) apply, plus WMS2's own consistency rules.  Each problem names the
field path (``files[3].file_lumi_list[0].event_count``) and where the rule comes from:

``server``
    dbs2go enforces it: the Go struct types of ``BulkBlocks`` (``dbs/bulkblocks.go``: a JSON string where
    Go has ``string``, an integer where it has ``int64``); the writer lexicon
    (``static/lexicon_writer.json``: dataset, block, LFN, primary dataset, processed dataset, processing
    version, acquisition era, global tag, release (``cmssw_version``), user patterns and lengths); the
    ``validate:"required"`` tags of its ``Files``/``Blocks`` records (check_sum, adler32, file_size > 0,
    origin_site_name, create_by); the ten-digit unix dates (``unixTimePattern``); the fixed tables the
    inserts look names up in (primary dataset types, dataset access types).
``client``
    dbs3-client's ``insertBulkBlock``: ``event_count`` per lumi present for every lumi of the block or for
    none (a mix is silently stripped and reported only after the insertion).
``wms2``
    consistency a correct insert needs even where nothing checks it: no duplicate LFN or (run, lumi) in a
    file, the block belongs to the dataset, the dataset name matches its parts, file_count/block_size
    match the files, parents and file configs name files of the block, per-lumi events add up to the
    file's, the block is inserted closed (as WMAgent does).

Where the server's own regular expression is unanchored (it uses Go's ``MatchString``) the pattern here is
anchored: stricter, never looser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# -- facts from dmwm/dbs2go static/lexicon_writer.json (patterns and maximum lengths) ------------------
_LFN_PATTERNS = tuple(re.compile(p) for p in (
    r"^/([a-z]+)/([a-z0-9]+)/([a-zA-Z0-9\-_]+)/([a-zA-Z0-9\-_]+)/([A-Z\-_]+)/([a-zA-Z0-9\-_]+)((/[0-9]+){3})?"
    r"/([0-9]+)/([a-zA-Z0-9\-_]+)\.root$",
    r"^/([a-z]+)/([a-z0-9]+)/([a-z0-9]+)/([a-zA-Z0-9\-_]+)/([a-zA-Z0-9\-_]+)/([A-Z\-_]+)/([a-zA-Z0-9\-_]+)"
    r"((/[0-9]+){3})?/([0-9]+)/([a-zA-Z0-9\-_]+)\.root$",
    r"^/store/mc/([a-zA-Z0-9\-_]+)/([a-zA-Z0-9\-_]+)/([a-zA-Z0-9\-_]+)/([a-zA-Z0-9\-_]+)(/([a-zA-Z0-9\-_]+))*"
    r"/([a-zA-Z0-9\-_]+)\.root$",
    r"^/store/(backfill/[0-9]/)?(t0temp/|unmerged/)?(data|express|hidata)/([a-zA-Z0-9\-_]+)/"
    r"([a-zA-Z][a-zA-Z0-9\-_]*)/([A-Z\-_]+)/([a-zA-Z0-9\-_]+)/([0-9]+)/([0-9]+)/([0-9]+)(/([0-9]+))?"
    r"/([a-zA-Z0-9\-_]+)\.root$",
    r"^/store/data/([a-zA-Z0-9\-_]+)/([a-zA-Z][a-zA-Z0-9\-_]*)/([A-Z\-_]+)/([a-zA-Z0-9\-_]+)/([0-9]+)/([0-9]+)"
    r"/([0-9]+)/([a-zA-Z0-9\-_]+)\.root$",
    r"^/store/(temp/)*(user|group)/(([a-zA-Z0-9\.]+)|([a-zA-Z0-9\-_]+))/([a-zA-Z][a-zA-Z0-9\-_]*)"
    r"/(([a-zA-Z0-9\-_]+)/)+([a-zA-Z0-9\-_]+)\.root$",
    r"^/store/results/([a-zA-Z0-9\-_]+)/([a-zA-Z0-9\-_]+)/([a-zA-Z][a-zA-Z0-9\-_]*)/([A-Z\-_]+)"
    r"/([a-zA-Z0-9\-_]+)/([0-9]+)/([a-zA-Z0-9\-_]+)\.root$",
    r"^/store/results/([a-zA-Z0-9\-_]+)/([a-zA-Z][a-zA-Z0-9\-_]*)/([a-zA-Z0-9\-_]+)/([a-zA-Z][a-zA-Z0-9\-_]*)"
    r"/([A-Z\-_]+)/([a-zA-Z0-9\-_]+)/([0-9]+)/([a-zA-Z0-9\-_]+)\.root$",
    r"^/store/lhe/([0-9]+)/([a-zA-Z0-9\-_]+)\.lhe(\.xz)?$",
    r"^/store/lhe/([a-zA-Z0-9\-_]+)/([a-zA-Z][a-zA-Z0-9\-_]*)/([0-9]+)/([a-zA-Z0-9\-_]+)\.lhe(\.xz)?$",
))
LFN_MAX = 500
DATASET_RE = re.compile(r"^/[a-zA-Z0-9\-_]{1,99}/[a-zA-Z0-9\.\-_]{1,199}/[A-Z\-]{1,50}$")
DATASET_MAX = 301
BLOCK_RE = re.compile(r"^/[a-zA-Z][a-zA-Z0-9\-_]+/[a-zA-Z0-9\.\-_]+/[A-Z\-_]+#[a-zA-Z0-9\.\-_]+$")
BLOCK_MAX = 402
PRIMARY_DS_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9\-_]*$")
PRIMARY_DS_MAX = 99
PRIMARY_DS_TYPES = frozenset({"mc", "data", "cosmic", "test"})
PROCESSED_DS_RE = re.compile(r"^[a-zA-Z0-9\.\-_]+$")
ACQ_ERA_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")
GLOBAL_TAG_RE = re.compile(r"^[a-zA-Z0-9\s\.\-_:]{1,100}$")
RELEASE_RE = re.compile(r"^CMSSW(_\d+){3}(_[a-zA-Z0-9_]+)?$")
USER_RES = tuple(re.compile(p) for p in (
    r"^[a-zA-Z0-9/%*][a-zA-Z0-9/\.\-_%*/#]*$",
    r"^/[a-zA-Z][a-zA-Z0-9/\=\s()\']*\=[a-zA-Z0-9/\=\.\-_/#:\s\']*$",
    r"^[a-zA-Z0-9/][a-zA-Z0-9/\.\-_]*@[a-zA-Z0-9/][a-zA-Z0-9/\.\-_]*$",
))
UNIX_TIME_RE = re.compile(r"^[1-9][0-9]{9}$")  # dbs2go validator.go unixTimePattern
ACCESS_TYPES = frozenset({"VALID", "INVALID", "PRODUCTION", "DEPRECATED", "DELETED"})  # DATASET_ACCESS_TYPES
SITE_RE = re.compile(r"^T[0-3]_[A-Z]{2}(_[A-Za-z0-9]+)+$")  # CMS site names (Rucio CMS schema, WMCore)
ADLER32_RE = re.compile(r"^[0-9a-fA-F]{1,8}$")
CONFIG_KEYS = ("release_version", "pset_hash", "app_name", "output_module_label", "global_tag")

# The payload's top level: key -> JSON type (dbs2go ``BulkBlocks``).
_TOP: dict[str, type] = {
    "dataset_conf_list": list, "file_conf_list": list, "files": list, "processing_era": dict, "primds": dict,
    "dataset": dict, "acquisition_era": dict, "block": dict, "file_parent_list": list,
    "block_parent_list": list, "dataset_parent_list": list,
}


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    source: str  # "server" | "client" | "wms2"

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.source}]"


class _Check:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, message: str, source: str = "server") -> None:
        self.problems.append(Problem(path, message, source))

    def obj(self, doc: dict[str, Any], key: str, path: str) -> dict[str, Any]:
        value = doc.get(key)
        if not isinstance(value, dict):
            self.add(f"{path}{key}", f"must be a JSON object, got {type(value).__name__}")
            return {}
        return value

    def string(self, doc: dict[str, Any], key: str, path: str, required: bool = True) -> str | None:
        value = doc.get(key)
        if value is None or value == "":
            if required:
                self.add(f"{path}{key}", "is required (a non-empty string)")
            return None
        if not isinstance(value, str):
            self.add(f"{path}{key}", f"must be a string, got {type(value).__name__} {value!r}")
            return None
        return value

    def integer(self, doc: dict[str, Any], key: str, path: str, minimum: int | None = None,
                required: bool = True) -> int | None:
        value = doc.get(key)
        if value is None:
            if required:
                self.add(f"{path}{key}", "is required (an integer)")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(f"{path}{key}", f"must be an integer (Go int64), got {type(value).__name__} {value!r}")
            return None
        if minimum is not None and value < minimum:
            self.add(f"{path}{key}", f"must be >= {minimum}, got {value}")
        return value

    def number(self, doc: dict[str, Any], key: str, path: str) -> None:
        value = doc.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            self.add(f"{path}{key}", f"must be a number (Go float64), got {type(value).__name__} {value!r}")

    def match(self, value: str | None, path: str, patterns: Iterable[re.Pattern[str]], what: str,
              max_len: int | None = None) -> None:
        if value is None:
            return
        if max_len is not None and len(value) > max_len:
            self.add(path, f"{what} longer than {max_len} characters")
        elif not any(p.match(value) for p in patterns):
            self.add(path, f"{value!r} is not a valid {what}")

    def date(self, doc: dict[str, Any], key: str, path: str, required: bool = True) -> None:
        value = self.integer(doc, key, path, required=required)
        if value is not None and not UNIX_TIME_RE.match(str(value)):
            self.add(f"{path}{key}", f"{value} is not a ten-digit unix time")

    def user(self, doc: dict[str, Any], key: str, path: str, required: bool = True) -> None:
        self.match(self.string(doc, key, path, required), f"{path}{key}", USER_RES, "user name or DN")


def _dataset_parts(c: _Check, p: dict[str, Any]) -> str | None:
    ds = c.obj(p, "dataset", "")
    name = c.string(ds, "dataset", "dataset.")
    c.match(name, "dataset.dataset", [DATASET_RE], "dataset name", DATASET_MAX)
    processed = c.string(ds, "processed_ds_name", "dataset.")
    c.match(processed, "dataset.processed_ds_name", [PROCESSED_DS_RE], "processed dataset name")
    tier = c.string(ds, "data_tier_name", "dataset.")
    access = c.string(ds, "dataset_access_type", "dataset.")
    if access is not None and access not in ACCESS_TYPES:
        c.add("dataset.dataset_access_type", f"{access!r} is not one of {sorted(ACCESS_TYPES)}")
    c.string(ds, "physics_group_name", "dataset.")
    c.number(ds, "xtcrosssection", "dataset.")
    c.date(ds, "creation_date", "dataset.")
    c.date(ds, "last_modification_date", "dataset.", required=False)
    c.user(ds, "create_by", "dataset.")
    c.user(ds, "last_modified_by", "dataset.", required=False)
    prim = c.obj(p, "primds", "")
    prim_name = c.string(prim, "primary_ds_name", "primds.")
    c.match(prim_name, "primds.primary_ds_name", [PRIMARY_DS_RE], "primary dataset name", PRIMARY_DS_MAX)
    prim_type = c.string(prim, "primary_ds_type", "primds.")
    if prim_type is not None and prim_type not in PRIMARY_DS_TYPES:
        c.add("primds.primary_ds_type", f"{prim_type!r} is not one of {sorted(PRIMARY_DS_TYPES)}")
    c.date(prim, "creation_date", "primds.")
    c.user(prim, "create_by", "primds.", required=False)
    parts_known = name is not None and DATASET_RE.match(name) and None not in (prim_name, processed, tier)
    if parts_known and name != f"/{prim_name}/{processed}/{tier}":
        c.add("dataset.dataset", f"{name} is not /primds.primary_ds_name/processed_ds_name/data_tier_name"
              f" (/{prim_name}/{processed}/{tier})", "wms2")
    era = c.obj(p, "acquisition_era", "")
    era_name = c.string(era, "acquisition_era_name", "acquisition_era.")
    c.match(era_name, "acquisition_era.acquisition_era_name", [ACQ_ERA_RE], "acquisition era name")
    c.date(era, "start_date", "acquisition_era.")
    proc = c.obj(p, "processing_era", "")
    version = c.integer(proc, "processing_version", "processing_era.", minimum=1)
    c.user(proc, "create_by", "processing_era.", required=False)
    if processed and era_name and version is not None and not (
            processed.startswith(f"{era_name}-") and processed.endswith(f"-v{version}")):
        c.add("dataset.processed_ds_name", f"{processed} is not <acquisition era {era_name}>-...-v{version}", "wms2")
    return name


def _block(c: _Check, p: dict[str, Any], dataset: str | None, files: list[dict[str, Any]]) -> None:
    blk = c.obj(p, "block", "")
    name = c.string(blk, "block_name", "block.")
    c.match(name, "block.block_name", [BLOCK_RE], "block name", BLOCK_MAX)
    if name is not None and dataset is not None and not name.startswith(f"{dataset}#"):
        c.add("block.block_name", f"{name} does not belong to dataset {dataset}", "wms2")
    c.match(c.string(blk, "origin_site_name", "block."), "block.origin_site_name", [SITE_RE], "CMS site name")
    opened = c.integer(blk, "open_for_writing", "block.")
    if opened not in (None, 0):
        c.add("block.open_for_writing", f"must be 0 (WMS2 inserts closed blocks, as WMAgent), got {opened}", "wms2")
    count = c.integer(blk, "file_count", "block.", minimum=1)
    size = c.integer(blk, "block_size", "block.", minimum=0)
    c.date(blk, "creation_date", "block.")
    c.user(blk, "create_by", "block.")
    if count is not None and count != len(files):
        c.add("block.file_count", f"{count} but the payload has {len(files)} file(s)", "wms2")
    sizes = [f.get("file_size") for f in files]
    if size is not None and all(isinstance(s, int) for s in sizes) and size != sum(sizes):  # type: ignore[arg-type]
        c.add("block.block_size", f"{size} but the files add up to {sum(sizes)}", "wms2")  # type: ignore[arg-type]


def _file(c: _Check, f: dict[str, Any], path: str, lumi_counts: list[bool]) -> str | None:
    lfn = c.string(f, "logical_file_name", path)
    c.match(lfn, f"{path}logical_file_name", _LFN_PATTERNS, "LFN", LFN_MAX)
    c.string(f, "check_sum", path)
    c.match(c.string(f, "adler32", path), f"{path}adler32", [ADLER32_RE], "adler32 (hex, 8 digits at most)")
    c.integer(f, "file_size", path, minimum=1)
    events = c.integer(f, "event_count", path, minimum=0)
    c.string(f, "file_type", path)
    c.number(f, "auto_cross_section", path)
    c.user(f, "last_modified_by", path, required=False)
    c.date(f, "last_modification_date", path, required=False)
    lumis = f.get("file_lumi_list")
    if not isinstance(lumis, list):
        c.add(f"{path}file_lumi_list", f"must be a list, got {type(lumis).__name__}")
        return lfn
    seen: set[tuple[int, int]] = set()
    total, counted = 0, True
    for j, lumi in enumerate(lumis):
        lp = f"{path}file_lumi_list[{j}]."
        if not isinstance(lumi, dict):
            c.add(lp.rstrip("."), "must be a JSON object")
            continue
        run = c.integer(lumi, "run_num", lp, minimum=1)
        ls = c.integer(lumi, "lumi_section_num", lp, minimum=1)
        has = lumi.get("event_count") is not None
        lumi_counts.append(has)
        n = c.integer(lumi, "event_count", lp, minimum=0) if has else None
        counted = counted and n is not None
        total += n or 0
        if run is not None and ls is not None:
            if (run, ls) in seen:
                c.add(lp.rstrip("."), f"run {run} lumi {ls} is listed twice for the file", "wms2")
            seen.add((run, ls))
    if lumis and counted and events is not None and total != events:
        c.add(f"{path}event_count", f"{events} but its lumis' event counts add up to {total}", "wms2")
    return lfn


def _configs(c: _Check, p: dict[str, Any], lfns: set[str]) -> None:
    ds_confs: list[tuple[str, ...]] = []
    for i, conf in enumerate(p.get("dataset_conf_list") or []):
        path = f"dataset_conf_list[{i}]."
        if not isinstance(conf, dict):
            c.add(path.rstrip("."), "must be a JSON object")
            continue
        ds_confs.append(tuple(c.string(conf, k, path) or "" for k in CONFIG_KEYS))
        c.match(conf.get("release_version") if isinstance(conf.get("release_version"), str) else None,
                f"{path}release_version", [RELEASE_RE], "CMSSW release")
        c.match(conf.get("global_tag") if isinstance(conf.get("global_tag"), str) else None,
                f"{path}global_tag", [GLOBAL_TAG_RE], "global tag")
    if not ds_confs:
        c.add("dataset_conf_list", "needs the output module configuration of the dataset", "wms2")
    covered: set[str] = set()
    for i, conf in enumerate(p.get("file_conf_list") or []):
        path = f"file_conf_list[{i}]."
        if not isinstance(conf, dict):
            c.add(path.rstrip("."), "must be a JSON object")
            continue
        lfn = c.string(conf, "lfn", path)
        values = tuple(c.string(conf, k, path) or "" for k in CONFIG_KEYS)
        if lfn is not None and lfn not in lfns:
            c.add(f"{path}lfn", f"{lfn} is not a file of the block", "wms2")
        if ds_confs and values not in ds_confs:
            c.add(path.rstrip("."), "matches no entry of dataset_conf_list", "wms2")
        covered.add(lfn or "")
    for lfn in sorted(lfns - covered):
        c.add("file_conf_list", f"{lfn} has no output module configuration", "wms2")


def _parents(c: _Check, p: dict[str, Any], lfns: set[str]) -> None:
    for i, par in enumerate(p.get("file_parent_list") or []):
        path = f"file_parent_list[{i}]."
        if not isinstance(par, dict):
            c.add(path.rstrip("."), "must be a JSON object")
            continue
        child = c.string(par, "logical_file_name", path)
        if child is not None and child not in lfns:
            c.add(f"{path}logical_file_name", f"{child} is not a file of the block", "wms2")
        parent = c.string(par, "parent_logical_file_name", path)
        c.match(parent, f"{path}parent_logical_file_name", _LFN_PATTERNS, "LFN", LFN_MAX)
    for i, ds in enumerate(p.get("dataset_parent_list") or []):
        if not isinstance(ds, str):
            c.add(f"dataset_parent_list[{i}]", f"must be a dataset name string, got {type(ds).__name__}")
        else:
            c.match(ds, f"dataset_parent_list[{i}]", [DATASET_RE], "dataset name", DATASET_MAX)


def validate_bulkblock(payload: Any) -> list[Problem]:
    """Every problem of a ``/bulkblocks`` payload (empty: the payload passes every known rule)."""
    c = _Check()
    if not isinstance(payload, dict):
        return [Problem("", f"must be a JSON object, got {type(payload).__name__}", "server")]
    for key, kind in _TOP.items():
        if not isinstance(payload.get(key), kind):
            c.add(key, f"must be a JSON {kind.__name__}, got {type(payload.get(key)).__name__}")
    dataset = _dataset_parts(c, payload)
    files = [f for f in payload.get("files") or [] if isinstance(f, dict)]
    if not files:
        c.add("files", "a block needs at least one file", "wms2")
    lfns: list[str] = []
    lumi_counts: list[bool] = []
    for i, f in enumerate(payload.get("files") or []):
        if not isinstance(f, dict):
            c.add(f"files[{i}]", "must be a JSON object")
            continue
        lfn = _file(c, f, f"files[{i}].", lumi_counts)
        if lfn is not None:
            if lfn in lfns:
                c.add(f"files[{i}].logical_file_name", f"{lfn} is listed twice", "wms2")
            lfns.append(lfn)
    if any(lumi_counts) and not all(lumi_counts):
        c.add("files[*].file_lumi_list[*].event_count",
              f"present for {sum(lumi_counts)} of {len(lumi_counts)} lumis: all or none", "client")
    _block(c, payload, dataset, files)
    _configs(c, payload, set(lfns))
    _parents(c, payload, set(lfns))
    return c.problems


class PayloadError(ValueError):
    """A bulk block payload breaks a rule of DBS; the message lists the problems."""

    def __init__(self, block: str, problems: list[Problem]) -> None:
        shown = "; ".join(str(p) for p in problems[:8]) + (f"; ... ({len(problems)} in all)"
                                                            if len(problems) > 8 else "")
        super().__init__(f"bulk block {block}: {shown}")
        self.problems = problems


def check_bulkblock(payload: Any) -> None:
    """Raise :class:`PayloadError` when ``payload`` has any problem."""
    problems = validate_bulkblock(payload)
    if problems:
        block = payload.get("block", {}).get("block_name", "?") if isinstance(payload, dict) else "?"
        raise PayloadError(str(block), problems)
