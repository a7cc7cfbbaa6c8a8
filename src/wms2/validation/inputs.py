"""What one side of a validation is: a request's registered outputs (per tier) or a list/glob of files."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wms2.db.catalog_tables import CatalogDatasetRow, CatalogFileRow
from wms2.db.tables import RequestRow
from wms2.domain.safety import check_name
from wms2.services.catalog import CatalogError
from wms2.services.local_catalog import LocalCatalog
from wms2.validation.model import ValidationError

#: Group name of a side given as files (a request's groups are its output tiers).
FILES_GROUP = "files"
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class SideInput:
    label: str
    groups: dict[str, list[str]]  # group (tier) -> ROOT file paths, sorted

    @property
    def files(self) -> list[str]:
        return [f for paths in self.groups.values() for f in paths]


def _expand(item: str) -> list[str]:
    path = Path(item).expanduser()
    if path.is_dir():
        return sorted(str(p) for p in path.rglob("*.root") if p.is_file())
    if _GLOB_CHARS & set(item):
        return sorted(p for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    if path.is_file():
        return [str(path)]
    raise ValidationError(f"{item}: no such file or directory")


def from_files(items: Sequence[str]) -> SideInput:
    """Files, directories (every ``*.root`` below) and globs; ``a.root,b.root`` is split at commas."""
    parts = [p.strip() for item in items for p in item.split(",") if p.strip()]
    files: list[str] = []
    for part in parts:
        found = _expand(part)
        if not found:
            raise ValidationError(f"{part}: matches no file")
        files.extend(f for f in found if f not in files)
    if not files:
        raise ValidationError("no ROOT file given")
    return SideInput(label=",".join(parts), groups={FILES_GROUP: files})


def looks_like_request(spec: str) -> bool:
    """A request name, not a path: no '/', no glob character, no such file, a valid request name."""
    if "/" in spec or "," in spec or _GLOB_CHARS & set(spec) or Path(spec).exists() or spec.endswith(".root"):
        return False
    try:
        check_name(spec)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class RegisteredOutput:
    """A dataset's valid registered files in the local catalog."""

    dataset: str
    files: int
    bytes: int


def registered_outputs(session: Session, datasets: Sequence[str] | None = None) -> dict[str, RegisteredOutput]:
    """Datasets with at least one valid registered file (all of them, or those among ``datasets``):
    one grouped query, no file listed."""
    query = (select(CatalogDatasetRow.name, func.count(CatalogFileRow.id),
                    func.coalesce(func.sum(CatalogFileRow.size), 0))
             .join(CatalogFileRow, CatalogFileRow.dataset_id == CatalogDatasetRow.id)
             .where(CatalogFileRow.is_valid.is_(True)).group_by(CatalogDatasetRow.name))
    if datasets is not None:
        if not datasets:
            return {}
        query = query.where(CatalogDatasetRow.name.in_(list(datasets)))
    return {name: RegisteredOutput(name, int(n), int(size)) for name, n, size in session.execute(query)}


def from_request(session: Session, storage_root: Path, name: str) -> SideInput:
    """The valid registered files of each output dataset of request ``name``, grouped by tier; local
    PFN = storage root + LFN (the local stage-out convention)."""
    row = session.scalar(select(RequestRow).where(RequestRow.name == name))
    if row is None:
        raise ValidationError(f"request {name}: not found")
    catalog = LocalCatalog(session)
    groups: dict[str, list[str]] = {}
    for dataset in row.output_datasets:
        try:
            files = catalog.files(dataset)
        except CatalogError:
            continue  # nothing registered yet for this dataset
        if not files:
            continue
        tier = dataset.rsplit("/", 1)[-1]
        key = tier if tier not in groups else dataset
        groups[key] = sorted(str(storage_root / f.lfn.lstrip("/")) for f in files)
    if not groups:
        raise ValidationError(f"request {name}: no registered output file yet (outputs: "
                              f"{', '.join(row.output_datasets) or 'none'})")
    return SideInput(label=name, groups=groups)


def resolve(spec: str | Sequence[str], storage_root: Path, session: Session | None) -> SideInput:
    """A request name (its registered outputs; needs ``session``) or files/directories/globs."""
    if isinstance(spec, str) and looks_like_request(spec):
        if session is None:
            raise ValidationError(f"{spec}: no such file, and no WMS2 database to look it up as a request")
        return from_request(session, storage_root, spec)
    return from_files([spec] if isinstance(spec, str) else list(spec))
