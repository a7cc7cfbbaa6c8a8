"""A reader of the flat, uncompressed ``TTree`` files :mod:`wms2.sandbox.rootfile` writes (numpy only).

The merge job reads the simulator's files and re-counts its own output; uproot would do it, but its
import (awkward, fsspec) costs about 0.2 CPU-s per process.  This reader parses exactly the records
:class:`~wms2.sandbox.rootfile.TreeWriter` writes and nothing else: the small-file header, the top
directory and its keys list, one ``TTree`` v20 key (cycle-unique, uncompressed), its ``TBranch`` v13
branches each with one ``TLeaf{O,B,S,I,L,F,D}`` v1 leaf of fixed length (no leaf count, no entry
offsets, no sub-branches, no in-memory baskets, baskets in this file), and uncompressed ``TBasket``
keys whose sizes agree with the branch's records.  Base-class records whose members are not needed
(``TNamed`` of the tree, ``TAttLine``/``TAttFill``/``TAttMarker``, ``ROOT::TIOFeatures``) are skipped
by their byte counts; every record parsed member by member must end exactly where its byte count says.

Contract: :func:`read_flat_tree` returns ``None`` whenever the file is anything else -- compressed,
another class or class version, jagged, several cycles of the tree, 64-bit seeks, an RNTuple, and also
a truncated or inconsistent file (a basket or record past the end of the file, sizes that disagree).
Callers then fall back to a general reader (uproot), which reports real corruption in its own words.
:func:`inspect_flat_tree` does the same but raises :class:`NotFlatTree` naming the file and the field.
It raises ``OSError`` only when the file cannot be opened or read; :meth:`FlatTree.batches` raises
``ValueError`` (naming the file and the branch) if the file shrinks after it was inspected.
"""

from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wms2.sandbox.rootio import BASKET_HEADER_SIZE, BYTE_COUNT_MASK, MAP_OFFSET, NEW_CLASS_TAG

#: A class tag with this bit set refers to a class name streamed earlier (ROOT's ``kClassMask``).
CLASS_MASK = 0x80000000
#: ``TObject::kIsReferenced``: the object's record carries a 16-bit process-id slot after ``fBits``.
IS_REFERENCED = 0x10
#: Versions from which a ``TFile`` header / ``TKey`` / ``TDirectory`` uses 64-bit seeks (ROOT adds 1000).
BIG_VERSION = 1000
#: Bytes read to reach ``TKey::fKeylen`` (fNbytes, fVersion, fObjlen, fDatime, fKeylen).
KEY_FIXED = 4 + 2 + 4 + 4 + 2
#: Class versions this reader parses (those :mod:`wms2.sandbox.rootfile` writes).
TREE_VERSION, BRANCH_VERSION, LEAF_VERSION, LEAF_BASE_VERSION, ARRAY_VERSION = 20, 13, 1, 2, 3
#: TLeaf class -> (numpy kind when signed, when unsigned), itemsize, and the branch-title type letters.
LEAF_CLASSES: dict[str, tuple[str, str, int, str, str]] = {
    "TLeafO": ("b", "b", 1, "O", "O"),
    "TLeafB": ("i", "u", 1, "B", "b"),
    "TLeafS": ("i", "u", 2, "S", "s"),
    "TLeafI": ("i", "u", 4, "I", "i"),
    "TLeafL": ("i", "u", 8, "L", "l"),
    "TLeafF": ("f", "f", 4, "F", "F"),
    "TLeafD": ("f", "f", 8, "D", "D"),
}


class NotFlatTree(Exception):
    """The file is not one this reader reads exactly (the message names the file and the field)."""


@dataclass(frozen=True)
class Branch:
    """One branch: name, on-disk (big-endian) dtype, per-entry shape, baskets as (seek, bytes, first entry)."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    baskets: tuple[tuple[int, int, int], ...]
    data_offsets: tuple[int, ...]  # per basket: where its data start (seek + key length)

    @property
    def entry_size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


@dataclass(frozen=True)
class FlatTree:
    """A flat tree of ``path``: its entry count and branches (in order); read with :meth:`batches`."""

    path: Path
    name: str
    entries: int
    branches: tuple[Branch, ...]

    def empty_batch(self) -> dict[str, np.ndarray]:
        """Zero entries of every branch (native byte order, per-entry shape kept)."""
        return {b.name: np.empty((0, *b.shape), b.dtype.newbyteorder("=")) for b in self.branches}

    def batches(self) -> Iterator[dict[str, np.ndarray]]:
        """One dict (branch name -> native-order array) per basket set: all branches share boundaries."""
        if not self.branches:
            return
        firsts = [first for _, _, first in self.branches[0].baskets] + [self.entries]
        with open(self.path, "rb") as f:
            fd = f.fileno()
            for i in range(len(firsts) - 1):
                n = firsts[i + 1] - firsts[i]
                yield {b.name: _basket_values(fd, self.path, b, i, n) for b in self.branches}


def _basket_values(fd: int, path: Path, branch: Branch, i: int, n: int) -> np.ndarray:
    """Basket ``i`` of ``branch`` as a writable array in native byte order (swapped in place, no copy)."""
    buffer = bytearray(n * branch.entry_size)
    got = os.preadv(fd, [buffer], branch.data_offsets[i])
    if got != len(buffer):
        raise ValueError(f"ROOT file {path}: basket {i} of branch {branch.name!r} is truncated "
                         f"({got} of {len(buffer)} bytes)")
    values = np.frombuffer(buffer, branch.dtype).reshape((n, *branch.shape))
    native = branch.dtype.newbyteorder("=")
    return values if native == branch.dtype else values.byteswap(inplace=True).view(native)


def read_flat_tree(path: str | os.PathLike[str], tree: str = "Events") -> FlatTree | None:
    """The tree ``tree`` of ``path`` if it is exactly what this reader reads, else ``None``."""
    try:
        return inspect_flat_tree(path, tree)
    except NotFlatTree:
        return None


def inspect_flat_tree(path: str | os.PathLike[str], tree: str = "Events") -> FlatTree:
    """As :func:`read_flat_tree`, but raise :class:`NotFlatTree` saying why the file is not read."""
    path = Path(path)
    with open(path, "rb") as f:
        source = _Source(path, f.fileno(), os.fstat(f.fileno()).st_size)
        try:
            return _read_tree(source, tree)
        except (struct.error, ValueError, IndexError) as exc:  # a field cut short or not decodable
            raise NotFlatTree(f"ROOT file {path}: malformed record ({exc})") from exc


@dataclass(frozen=True)
class _Source:
    path: Path
    fd: int
    size: int

    def fail(self, what: str) -> NotFlatTree:
        return NotFlatTree(f"ROOT file {self.path}: {what}")

    def read(self, seek: int, nbytes: int, what: str) -> bytes:
        if seek < 0 or nbytes < 0 or seek + nbytes > self.size:
            raise self.fail(f"{what} ({nbytes} bytes at {seek}) lies past the end of the file ({self.size} bytes)")
        return os.pread(self.fd, nbytes, seek)

    def key(self, seek: int, what: str) -> _Key:
        fixed = self.read(seek, KEY_FIXED, what)
        keylen = struct.unpack_from(">h", fixed, KEY_FIXED - 2)[0]
        return _parse_key(self, _Cursor(self.read(seek, max(keylen, KEY_FIXED), what)), what)


@dataclass(frozen=True)
class _Key:
    nbytes: int
    objlen: int
    keylen: int
    cycle: int
    seek: int
    class_name: str
    name: str
    title: str


class _Cursor:
    """Reads big-endian fields from ``data`` from ``pos`` on; ``base`` is ``data``'s offset in its key."""

    def __init__(self, data: bytes, pos: int = 0, base: int = 0):
        self.data, self.pos, self.base = data, pos, base
        self.classes: dict[int, str] = {}

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def one(self, fmt: str) -> int | float:
        return self.take(fmt)[0]

    def tstring(self) -> str:
        n = int(self.one(">B"))
        if n == 255:
            n = int(self.one(">I"))
        raw = self.data[self.pos : self.pos + n]
        if len(raw) != n:
            raise IndexError(f"string of {n} bytes at {self.pos} runs past its record")
        self.pos += n
        return raw.decode("utf-8")

    def cstring(self) -> str:
        end = self.data.index(b"\x00", self.pos)
        text = self.data[self.pos : end].decode("ascii")
        self.pos = end + 1
        return text

    def record(self, src: _Source, what: str) -> tuple[int, int]:
        """A byte count and version: returns (version, end of the record)."""
        count, version = self.take(">Ih")
        if not count & BYTE_COUNT_MASK:
            raise src.fail(f"{what}: no byte count")
        return version, self.pos - 2 + (count & ~BYTE_COUNT_MASK)

    def skip_record(self, src: _Source, what: str) -> None:
        self.pos = self.record(src, what)[1]

    def tobject(self) -> None:
        _version, _unique, bits = self.take(">hII")
        if bits & IS_REFERENCED:
            self.pos += 2


def _end(cur: _Cursor, end: int, src: _Source, what: str) -> None:
    if cur.pos != end:
        raise src.fail(f"{what}: {end - cur.pos} unexpected bytes after its last known member")


def _parse_key(src: _Source, cur: _Cursor, what: str) -> _Key:
    nbytes, version, objlen, _stamp, keylen, cycle = cur.take(">ihiIhh")
    if version > BIG_VERSION:
        raise src.fail(f"{what}: key version {version} has 64-bit seeks")
    seek, _parent = cur.take(">ii")
    return _Key(nbytes, objlen, keylen, cycle, seek, cur.tstring(), cur.tstring(), cur.tstring())


def _tree_key(src: _Source, tree: str) -> _Key:
    head = src.read(0, 4 + 4 * 11 + 1, "file header")
    if head[:4] != b"root":
        raise src.fail("file header: no 'root' magic")
    version, begin, end, _sfree, _nfree, _n, nbytes_name = struct.unpack_from(">iiiiiii", head, 4)
    if version >= 1_000_000:
        raise src.fail(f"file header: version {version} has 64-bit seeks")
    if end > src.size:
        raise src.fail(f"file header: fEND {end} is past the end of the file ({src.size} bytes): truncated")
    cur = _Cursor(src.read(begin + nbytes_name, 2 + 4 * 7, "top directory"))
    dir_version, _c, _m, nbytes_keys, _nn, _sd, _sp, seek_keys = cur.take(">hIIiiiii")
    if dir_version > BIG_VERSION:
        raise src.fail(f"top directory: version {dir_version} has 64-bit seeks")
    keys = _Cursor(src.read(seek_keys, nbytes_keys, "keys list"))
    list_key = _parse_key(src, keys, "keys list")
    keys.pos = list_key.keylen
    found = [_parse_key(src, keys, f"keys list entry {i}") for i in range(int(keys.one(">i")))]
    named = [k for k in found if k.name == tree]
    if len(named) != 1:
        raise src.fail(f"keys list: {len(named)} keys named {tree!r} (one is read)")
    if named[0].class_name != "TTree":
        raise src.fail(f"key {tree!r}: class {named[0].class_name}, not TTree")
    return named[0]


def _read_tree(src: _Source, tree: str) -> FlatTree:
    key = _tree_key(src, tree)
    if src.key(key.seek, f"tree {tree!r} key") != key:
        raise src.fail(f"tree {tree!r}: its key at {key.seek} differs from the keys list's entry")
    if key.nbytes - key.keylen != key.objlen:
        raise src.fail(f"tree {tree!r}: compressed ({key.nbytes - key.keylen} bytes stored, {key.objlen} long)")
    cur = _Cursor(src.read(key.seek + key.keylen, key.objlen, f"tree {tree!r}"), base=key.keylen)
    version, end = cur.record(src, "TTree")
    if version != TREE_VERSION:
        raise src.fail(f"TTree version {version} (reads {TREE_VERSION})")
    for base in ("TNamed", "TAttLine", "TAttFill", "TAttMarker"):
        cur.skip_record(src, f"TTree base {base}")
    entries = int(cur.one(">q"))
    cur.pos += 8 * 4 + 8 + 4 * 4  # fTotBytes..fFlushedBytes, fWeight, fTimerInterval..fDefaultEntryOffsetLen
    nclusters = int(cur.one(">i"))
    cur.pos += 8 * 6  # fMaxEntries, fMaxEntryLoop, fMaxVirtualSize, fAutoSave, fAutoFlush, fEstimate
    for member in ("fClusterRangeEnd", "fClusterSize"):
        if cur.one(">B"):
            cur.pos += 8 * nclusters
        elif nclusters:
            raise src.fail(f"TTree {member}: missing for {nclusters} cluster ranges")
    cur.skip_record(src, "TTree fIOFeatures")
    branches = []
    for cls in _array_elements(src, cur, "TTree fBranches"):
        if cls != "TBranch":
            raise src.fail(f"TTree fBranches: element of class {cls!r} (reads TBranch)")
        branches.append(_parse_branch(src, cur, entries, tree))
    bounds = {tuple(first for _, _, first in b.baskets) for b in branches}
    if len(bounds) > 1:
        raise src.fail(f"tree {tree!r}: branches have different basket boundaries")
    if end > len(cur.data):
        raise src.fail(f"TTree: byte count {end} past the object's {len(cur.data)} bytes")
    return FlatTree(src.path, tree, entries, tuple(branches))


def _array_elements(src: _Source, cur: _Cursor, what: str) -> Iterator[str]:
    """Walk a ``TObjArray``: yields each element's class name with ``cur`` at the element's object."""
    version, end = cur.record(src, what)
    if version != ARRAY_VERSION:
        raise src.fail(f"{what}: TObjArray version {version} (reads {ARRAY_VERSION})")
    cur.tobject()
    cur.tstring()
    count, _lower = cur.take(">ii")
    for i in range(count):
        yield _class_tag(src, cur, f"{what}[{i}]")
    _end(cur, end, src, what)


def _class_tag(src: _Source, cur: _Cursor, what: str) -> str:
    count = int(cur.one(">I"))
    if not count & BYTE_COUNT_MASK:
        raise src.fail(f"{what}: null or referenced object")
    at = cur.base + cur.pos
    tag = int(cur.one(">I"))
    if tag == NEW_CLASS_TAG:
        name = cur.cstring()
        cur.classes[at + MAP_OFFSET] = name
        return name
    if tag & CLASS_MASK and (tag & ~CLASS_MASK) in cur.classes:
        return cur.classes[tag & ~CLASS_MASK]
    raise src.fail(f"{what}: class tag {tag:#x} not understood")


def _parse_branch(src: _Source, cur: _Cursor, tree_entries: int, tree: str) -> Branch:
    version, end = cur.record(src, "TBranch")
    if version != BRANCH_VERSION:
        raise src.fail(f"TBranch version {version} (reads {BRANCH_VERSION})")
    name, title = _tnamed(src, cur, "TBranch")
    what = f"branch {name!r}"
    cur.skip_record(src, f"{what} TAttFill")
    _compress, _size, offset_len, nbaskets, _entry_number = cur.take(">iiiiq")
    cur.skip_record(src, f"{what} fIOFeatures")
    _offset, max_baskets, _split, entries, _first, _tot, _zip = cur.take(">iiiqqqq")
    if offset_len != 0 or entries != tree_entries or not 0 <= nbaskets < max_baskets:
        raise src.fail(f"{what}: fEntryOffsetLen {offset_len}, fEntries {entries} (tree {tree_entries}), "
                       f"fWriteBasket {nbaskets} of fMaxBaskets {max_baskets}: not a flat branch")
    for _ in _array_elements(src, cur, f"{what} fBranches"):
        raise src.fail(f"{what}: has sub-branches")
    leaves = [_parse_leaf(src, cur, cls, name) for cls in _array_elements(src, cur, f"{what} fLeaves")]
    if len(leaves) != 1:
        raise src.fail(f"{what}: {len(leaves)} leaves (reads one)")
    for _ in _array_elements(src, cur, f"{what} fBaskets"):
        raise src.fail(f"{what}: baskets kept in the tree object")
    nbytes = _fast_array(src, cur, ">i4", max_baskets, f"{what} fBasketBytes")
    firsts = _fast_array(src, cur, ">i8", max_baskets, f"{what} fBasketEntry")
    seeks = _fast_array(src, cur, ">i8", max_baskets, f"{what} fBasketSeek")
    if cur.tstring():
        raise src.fail(f"{what}: baskets in another file")
    _end(cur, end, src, what)
    dtype, shape, letter = leaves[0]
    if title != f"{name}{''.join(f'[{d}]' for d in shape)}/{letter}":
        raise src.fail(f"{what}: title {title!r} disagrees with its leaf")
    bounds = [*firsts[:nbaskets].tolist(), entries]
    if bounds[0] != 0 or any(a >= b for a, b in itertools.pairwise(bounds)):
        raise src.fail(f"{what}: fBasketEntry {bounds} is not increasing from 0 to the entries")
    baskets = tuple(zip(seeks[:nbaskets].tolist(), nbytes[:nbaskets].tolist(), bounds[:-1], strict=True))
    branch = Branch(name, dtype, shape, baskets, ())
    offsets = tuple(_basket_data(src, tree, branch, i, bounds[i + 1] - bounds[i]) for i in range(nbaskets))
    return Branch(name, dtype, shape, baskets, offsets)


def _tnamed(src: _Source, cur: _Cursor, what: str) -> tuple[str, str]:
    _version, end = cur.record(src, f"{what} TNamed")
    cur.tobject()
    name, title = cur.tstring(), cur.tstring()
    _end(cur, end, src, f"{what} TNamed")
    return name, title


def _fast_array(src: _Source, cur: _Cursor, dtype: str, n: int, what: str) -> np.ndarray:
    if cur.one(">B") != 1:
        raise src.fail(f"{what}: missing")
    size = np.dtype(dtype).itemsize * n
    if cur.pos + size > len(cur.data):
        raise src.fail(f"{what}: {n} values run past the tree object")
    values = np.frombuffer(cur.data, dtype, n, cur.pos)
    cur.pos += size
    return values


def _parse_leaf(src: _Source, cur: _Cursor, cls: str, branch: str) -> tuple[np.dtype, tuple[int, ...], str]:
    """A ``TLeaf<X>`` v1 over ``TLeaf`` v2: (on-disk dtype, per-entry shape, branch-title type letter)."""
    what = f"branch {branch!r} leaf"
    if cls not in LEAF_CLASSES:
        raise src.fail(f"{what}: class {cls} (reads {', '.join(LEAF_CLASSES)})")
    signed, unsigned, itemsize, letter, uletter = LEAF_CLASSES[cls]
    version, end = cur.record(src, cls)
    base_version, base_end = cur.record(src, f"{what} TLeaf")
    if (version, base_version) != (LEAF_VERSION, LEAF_BASE_VERSION):
        raise src.fail(f"{what}: {cls} v{version} / TLeaf v{base_version} "
                       f"(reads v{LEAF_VERSION} / v{LEAF_BASE_VERSION})")
    name, title = _tnamed(src, cur, what)
    length, len_type, _offset, _range, is_unsigned, leaf_count = cur.take(">iiibbI")
    _end(cur, base_end, src, f"{what} TLeaf")
    cur.pos += 2 * itemsize  # fMinimum, fMaximum
    _end(cur, end, src, what)
    shape = _dims(title, name)
    if name != branch or shape is None or leaf_count != 0 or len_type != itemsize:
        raise src.fail(f"{what}: name {name!r}, title {title!r}, fLeafCount {leaf_count}, fLenType {len_type}: "
                       "not a fixed-size leaf of its branch")
    if length != int(np.prod(shape, dtype=np.int64)):
        raise src.fail(f"{what}: fLen {length} disagrees with its title {title!r}")
    kind = unsigned if is_unsigned else signed
    dtype = np.dtype("?") if kind == "b" else np.dtype(f">{kind}{itemsize}")
    return dtype, shape, uletter if is_unsigned else letter


def _dims(title: str, name: str) -> tuple[int, ...] | None:
    """``name[2][3]`` -> (2, 3); ``None`` unless the title is the name and positive integer dimensions."""
    if not title.startswith(name):
        return None
    rest, dims = title[len(name):], []
    while rest:
        if not rest.startswith("[") or "]" not in rest:
            return None
        text, rest = rest[1:].split("]", 1)
        if not text.isdigit() or int(text) <= 0:
            return None
        dims.append(int(text))
    return tuple(dims)


def _basket_data(src: _Source, tree: str, branch: Branch, i: int, n: int) -> int:
    """Check basket ``i`` (an uncompressed ``TBasket`` of ``n`` entries); return where its data start."""
    seek, nbytes, _first = branch.baskets[i]
    what = f"branch {branch.name!r} basket {i}"
    key = src.key(seek, what)
    if key.keylen < KEY_FIXED + BASKET_HEADER_SIZE:
        raise src.fail(f"{what}: key length {key.keylen} leaves no room for a basket header")
    cur = _Cursor(src.read(seek, key.keylen, what), pos=key.keylen - BASKET_HEADER_SIZE)
    version, _buffer, entry_size, nev, last, flag = cur.take(">hiiiib")
    size = n * branch.entry_size
    facts = (key.class_name, key.name, key.title, key.nbytes, key.objlen, key.seek, entry_size, nev, last, flag)
    if facts != ("TBasket", branch.name, tree, nbytes, size, seek, branch.entry_size, n, key.keylen + size, 0) \
            or key.nbytes != key.keylen + size or version > BIG_VERSION:
        raise src.fail(f"{what}: key/header {facts} is not an uncompressed basket of {n} entries "
                       f"x {branch.entry_size} bytes")
    if seek + key.nbytes > src.size:
        raise src.fail(f"{what}: ends at {seek + key.nbytes}, past the end of the file ({src.size} bytes)")
    return seek + key.keylen
