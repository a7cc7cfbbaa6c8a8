"""The worker side: read one entry range of one tree and summarise its numeric branches.

Pool tasks are plain picklable dataclasses; each worker streams its range in ``chunk_mb`` steps, so its
memory is a few chunks whatever the file size.  The header read (:func:`read_schema`) also returns the
first entries of every branch (the sample that places the common bins); the one data pass
(:func:`scan`) returns :class:`~wms2.validation.stats.Moments` and the fine-bin counts per branch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from wms2.sandbox.memory import peak_rss_mb
from wms2.validation.model import ValidationError
from wms2.validation.stats import Binning, Moments

_MB = 1024 * 1024


@dataclass(frozen=True)
class TreeSchema:
    entries: int
    numeric: dict[str, bool] = field(default_factory=dict)  # branch -> is integer
    other: tuple[str, ...] = ()  # branches that are not numeric (not compared)
    bytes_per_entry: float = 0.0


@dataclass(frozen=True)
class FileSchema:
    path: str
    size: int
    trees: dict[str, TreeSchema]
    samples: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # tree -> branch -> first values


@dataclass(frozen=True)
class ScanTask:
    key: tuple[str, str, str]  # (side, group, tree)
    path: str
    start: int
    stop: int
    branches: tuple[str, ...]
    chunk_mb: float
    binnings: dict[str, Binning]


@dataclass
class ScanResult:
    moments: dict[str, Moments]
    counts: dict[str, np.ndarray]
    pid: int
    peak_rss_mb: float
    cpu_s: float = 0.0  # CPU time of this task (the machine's load does not inflate it)


def _peak_rss_mb() -> float:
    """This process's own peak (``VmHWM``): a worker's ``ru_maxrss`` includes its parent's mark."""
    return peak_rss_mb()


def _element_kind(interpretation: object) -> str | None:
    """'i' (integer/bool), 'f' (float) or None (not a numeric branch) of an uproot interpretation."""
    from uproot.interpretation.jagged import AsJagged
    from uproot.interpretation.numerical import AsDtype

    if isinstance(interpretation, AsJagged):
        interpretation = interpretation.content
    if not isinstance(interpretation, AsDtype):
        return None
    dtype = interpretation.to_dtype
    base = dtype.subdtype[0] if dtype.subdtype else dtype
    if base.kind in "biu":
        return "i"
    return "f" if base.kind == "f" else None


def _form_kind(form: object) -> str | None:
    """The same for an RNTuple field's awkward form: lists of a numeric primitive are numeric."""
    import awkward as ak

    while isinstance(form, (ak.forms.ListOffsetForm, ak.forms.ListForm, ak.forms.RegularForm)):
        form = form.content
    if not isinstance(form, ak.forms.NumpyForm):
        return None
    kind = np.dtype(ak.types.numpytype.primitive_to_dtype(form.primitive)).kind
    if kind in "biu":
        return "i"
    return "f" if kind == "f" else None


def _field_kind(field: object) -> str | None:
    """RNTuple field: ``to_akform()`` gives a one-field record form (and the field names)."""
    form = field.to_akform()  # type: ignore[attr-defined]
    if isinstance(form, tuple):
        form = form[0]
    contents = getattr(form, "contents", None)
    if contents is not None:
        if len(contents) != 1:
            return None
        form = contents[0]
    return _form_kind(form)


def _tree_schema(tree: object) -> TreeSchema:
    """Numeric top-level branches (TTree) or fields (RNTuple) of one tree."""
    numeric: dict[str, bool] = {}
    other: list[str] = []
    total = 0
    is_ttree = hasattr(tree, "branches")
    for item in (tree.branches if is_ttree else tree.fields):  # type: ignore[attr-defined]
        if is_ttree and item.branches:  # a split object: not a plain numeric column
            other.append(item.name)
            continue
        try:
            kind = _element_kind(item.interpretation) if is_ttree else _field_kind(item)
        except Exception as exc:  # uproot raises many types for unknown streamers and field types
            other.append(f"{item.name} ({type(exc).__name__})")
            continue
        if kind is None:
            other.append(item.name)
            continue
        numeric[item.name] = kind == "i"
        if is_ttree:
            total += int(item.uncompressed_bytes)
    entries = int(tree.num_entries)  # type: ignore[attr-defined]
    per_entry = total / entries if entries and is_ttree else 0.0
    return TreeSchema(entries, numeric, tuple(other), per_entry)


def _open(path: str):  # type: ignore[no-untyped-def]
    """Local files through mmap (no copies, no reader thread); anything else (xrootd...) as uproot likes."""
    import uproot

    if Path(path).is_file():
        return uproot.open(path, handler=uproot.MemmapSource)
    return uproot.open(path)


def read_schema(path: str, prefix_entries: int = 0) -> FileSchema:
    """Trees (TTree or RNTuple), their numeric branches and the first ``prefix_entries`` values of each."""
    size = Path(path).stat().st_size if Path(path).is_file() else 0
    samples: dict[str, dict[str, np.ndarray]] = {}
    try:
        with _open(path) as rootfile:
            trees: dict[str, TreeSchema] = {}
            for name, classname in rootfile.classnames(recursive=False, cycle=False).items():
                if classname.startswith("TTree") or classname == "ROOT::RNTuple":
                    trees[name] = _tree_schema(rootfile[name])
                    if prefix_entries and trees[name].numeric:
                        samples[name] = _prefix(rootfile[name], list(trees[name].numeric), prefix_entries)
    except (OSError, ValueError, KeyError) as exc:
        raise ValidationError(f"{path}: cannot read it as a ROOT file: {exc}") from exc
    for name, tree in trees.items():
        if not tree.bytes_per_entry and tree.entries:  # RNTuple: no per-column sizes; the file's share
            trees[name] = replace(tree, bytes_per_entry=size / len(trees) / tree.entries)
    return FileSchema(path=path, size=size, trees=trees, samples=samples)


def _prefix(tree: object, branches: list[str], entries: int) -> dict[str, np.ndarray]:
    arrays = tree.arrays(branches, entry_stop=entries, library="np", how=dict)  # type: ignore[attr-defined]
    out = {}
    for name, array in arrays.items():
        values = _flat(array)
        out[name] = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    return out


def _flat(array: np.ndarray) -> np.ndarray:
    """One 1-D array of every value (fixed-size arrays flattened, jagged ones concatenated, bool as uint8)."""
    if array.dtype == object:
        array = np.concatenate([np.asarray(a).reshape(-1) for a in array]) if len(array) else np.zeros(0)
    values = array.reshape(-1)
    return values.view(np.uint8) if values.dtype == np.bool_ else values


def _chunks(task: ScanTask) -> Iterator[dict[str, np.ndarray]]:
    """Branch -> flattened values, per step of ``chunk_mb``."""
    with _open(task.path) as rootfile:
        tree = rootfile[task.key[2]]
        for arrays in tree.iterate(list(task.branches), entry_start=task.start, entry_stop=task.stop,
                                   step_size=f"{task.chunk_mb} MB", library="np", how=dict):
            yield {name: _flat(array) for name, array in arrays.items()}


def scan(task: ScanTask) -> ScanResult:
    """The data pass over one entry range: moments, extrema, NaN/inf counts and fine-bin counts."""
    cpu0 = time.process_time()
    moments = {b: Moments() for b in task.branches}
    counts = {b: np.zeros(task.binnings[b].n + 2, dtype=np.int64) for b in task.branches}
    for chunk in _chunks(task):
        for name, values in chunk.items():
            finite = moments[name].add(values)
            counts[name] += task.binnings[name].fill(finite)
    return ScanResult(moments, counts, os.getpid(), _peak_rss_mb(), time.process_time() - cpu0)
