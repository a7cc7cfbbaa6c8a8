"""Stage-out: copy job outputs to storage under their LFN, and remove them again.

Three modes behind one interface (:class:`StageOut`):

- ``local``: the storage is a directory (``WMS2_HOME/storage``); PFN = storage root + LFN, so
  ``/store/mc/X.root`` lives at ``<root>/store/mc/X.root`` (what a Rucio ``file://`` RSE whose prefix
  is the storage root resolves to).
- ``test`` / ``production``: the site storage description (a CMS ``storage.json``: volumes with
  protocols that have either a ``prefix`` or ``rules``; a rule may ``chain`` to another protocol of the
  same volume, whose translation runs first) resolves LFN -> PFN, and a copy tool (``xrdcp`` for
  ``root://``, ``gfal-copy`` otherwise) moves the file.
"""

from __future__ import annotations

import os
import re
import shutil
import zlib
from pathlib import Path
from typing import Any

from wms2.sandbox.contract import Contract
from wms2.sandbox.manifest import NonNegInt, StageOutSpec

_COPY_CHUNK = 4 * 1024 * 1024
#: Protocol accesses that allow writing, in order of preference (storage.json "access").
_WRITE_ACCESS = ("global-rw", "site-rw")
#: Seconds a grid copy may take before it is abandoned.
_COPY_TIMEOUT_S = 3600


class StageOutError(Exception):
    """A stage-out failure (cms-formats §7: 60307 general stage-out failure)."""

    exit_code = 60307


class StagedFile(Contract, kw_only=True):
    lfn: str
    pfn: str
    size: NonNegInt
    adler32: str


def adler32_of(path: str | Path) -> str:
    """The adler32 checksum of a file as 8 lower-case hex digits (the CMS/Rucio convention)."""
    value = 1
    with open(path, "rb") as handle:
        while chunk := handle.read(_COPY_CHUNK):
            value = zlib.adler32(chunk, value)
    return f"{value & 0xFFFFFFFF:08x}"


def _copy_with_checksum(src: Path, dst: Path) -> tuple[int, str]:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    value, size = 1, 0
    with open(src, "rb") as fin, open(tmp, "wb") as fout:
        while chunk := fin.read(_COPY_CHUNK):
            value = zlib.adler32(chunk, value)
            size += len(chunk)
            fout.write(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    os.replace(tmp, dst)
    return size, f"{value & 0xFFFFFFFF:08x}"


# ---------------------------------------------------------------------------------------------
# storage.json resolution
# ---------------------------------------------------------------------------------------------


class StorageDescriptionError(ValueError):
    pass


def _protocol(volume: dict[str, Any], name: str) -> dict[str, Any]:
    for proto in volume.get("protocols", []):
        if proto.get("protocol") == name:
            return proto
    raise StorageDescriptionError(f"volume {volume.get('volume')!r} has no protocol {name!r}")


def _apply_rule(rule: dict[str, Any], path: str) -> str | None:
    match = re.match(rule["lfn"], path)
    if match is None:
        return None
    return re.sub(r"\$(\d+)", lambda m: match.group(int(m.group(1))) or "", rule["pfn"])


def resolve_lfn(volume: dict[str, Any], protocol: str, lfn: str, _depth: int = 0) -> str:
    """LFN -> PFN with one protocol of one storage.json volume (prefix, rules, chained rules)."""
    if _depth > len(volume.get("protocols", [])):
        raise StorageDescriptionError(f"rule chain loop resolving {lfn!r} with protocol {protocol!r}")
    proto = _protocol(volume, protocol)
    if "prefix" in proto:
        return proto["prefix"].rstrip("/") + "/" + lfn.lstrip("/")
    for rule in proto.get("rules", []):
        path = lfn
        if rule.get("chain"):
            path = resolve_lfn(volume, rule["chain"], lfn, _depth + 1)
        result = _apply_rule(rule, path)
        if result is not None:
            return result
    raise StorageDescriptionError(
        f"no rule of protocol {protocol!r} in volume {volume.get('volume')!r} matches {lfn!r}"
    )


def load_storage_description(path: str | Path) -> list[dict[str, Any]]:
    import json  # deferred, as subprocess below: local mode (the cleanup job's usual case) needs neither

    data = json.loads(Path(path).read_text())
    if not isinstance(data, list) or not all(isinstance(v, dict) and "protocols" in v for v in data):
        raise StorageDescriptionError(f"{path}: expected a list of volumes with 'protocols'")
    return data


def choose_write_protocol(volumes: list[dict[str, Any]], site: str | None = None) -> tuple[dict[str, Any], str]:
    """The first volume (of ``site`` when given) and its preferred writable protocol."""
    for access in _WRITE_ACCESS:
        for volume in volumes:
            if site and volume.get("site") not in (None, site):
                continue
            for proto in volume["protocols"]:
                if proto.get("access") == access:
                    return volume, proto["protocol"]
    raise StorageDescriptionError(f"no writable protocol for site {site!r}")


def copy_command(src: str, pfn: str) -> list[str]:
    """The command that copies a local file to a grid PFN."""
    if pfn.startswith("root://"):
        return ["xrdcp", "--force", "--posc", "--cksum", "adler32", src, pfn]
    return ["gfal-copy", "--force", "--checksum", "ADLER32", "--parent", f"file://{os.path.abspath(src)}", pfn]


def remove_command(pfn: str) -> list[str]:
    if pfn.startswith("root://"):
        host, _, path = pfn[len("root://") :].partition("/")
        return ["xrdfs", host, "rm", "/" + path.lstrip("/")]
    return ["gfal-rm", pfn]


# ---------------------------------------------------------------------------------------------
# the interface
# ---------------------------------------------------------------------------------------------


class StageOut:
    """Put files under an LFN, map LFNs to PFNs, remove them (mode chosen by the manifest)."""

    def __init__(self, spec: StageOutSpec, site: str | None = None):
        self.spec = spec
        self.site = site
        self._volume: dict[str, Any] | None = None
        self._protocol = ""
        if spec.mode == "local":
            if not spec.storage_root:
                raise StorageDescriptionError("stageout.storage_root is required in local mode")
        else:
            if not spec.site_config:
                raise StorageDescriptionError(f"stageout.site_config is required in {spec.mode} mode")
            volumes = load_storage_description(spec.site_config)
            self._volume, self._protocol = choose_write_protocol(volumes, site)

    def _check_lfn(self, lfn: str) -> None:
        if not lfn.startswith(self.spec.lfn_prefix.rstrip("/") + "/") or ".." in lfn.split("/"):
            raise StageOutError(f"LFN {lfn!r} is not under the prefix {self.spec.lfn_prefix!r}")

    def pfn(self, lfn: str) -> str:
        self._check_lfn(lfn)
        if self.spec.mode == "local":
            return str(Path(self.spec.storage_root or "") / lfn.lstrip("/"))
        assert self._volume is not None
        return resolve_lfn(self._volume, self._protocol, lfn)

    def put(self, local: str | Path, lfn: str) -> StagedFile:
        src = Path(local)
        if not src.is_file():
            raise StageOutError(f"output file {src} not found")
        pfn = self.pfn(lfn)
        if self.spec.mode == "local":
            size, checksum = _copy_with_checksum(src, Path(pfn))
            if size != src.stat().st_size:
                raise StageOutError(f"size mismatch after copying {src} to {pfn}")
            return StagedFile(lfn=lfn, pfn=pfn, size=size, adler32=checksum)
        checksum = adler32_of(src)
        import subprocess

        result = subprocess.run(copy_command(str(src), pfn), capture_output=True, text=True, timeout=_COPY_TIMEOUT_S)
        if result.returncode != 0:
            raise StageOutError(f"copy to {pfn} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
        return StagedFile(lfn=lfn, pfn=pfn, size=src.stat().st_size, adler32=checksum)

    def local_path(self, lfn: str) -> Path:
        """Where a job can read ``lfn`` as a file (local mode only)."""
        if self.spec.mode != "local":
            raise StageOutError(f"LFN {lfn} is not a local file in {self.spec.mode} mode")
        return Path(self.pfn(lfn))

    def remove(self, lfn: str) -> bool:
        """Delete the file stored under ``lfn``; False when it was already gone."""
        pfn = self.pfn(lfn)
        if self.spec.mode == "local":
            path = Path(pfn)
            if not path.exists():
                return False
            path.unlink()
            _prune_empty_dirs(path.parent, Path(self.spec.storage_root or "/"))
            return True
        import subprocess

        result = subprocess.run(remove_command(pfn), capture_output=True, text=True, timeout=_COPY_TIMEOUT_S)
        return result.returncode == 0


def _prune_empty_dirs(start: Path, stop: Path) -> None:
    current = start
    stop = stop.resolve()
    while current.resolve() != stop and stop in current.resolve().parents:
        try:
            current.rmdir()
        except OSError:
            return
        current = current.parent


def copy_file(src: Path, dst: Path) -> tuple[int, str]:
    """Copy ``src`` to ``dst`` atomically, returning (size, adler32)."""
    return _copy_with_checksum(src, dst)


def move_into_place(tmp: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(tmp), str(dst))
