"""A small writer of genuine, uncompressed ROOT files holding one flat ``TTree`` (the simulator's output).

The simulator used to write with uproot, whose import (awkward, fsspec) costs about 0.2 CPU-s in every
job, twenty times the write itself.  This writer needs only numpy and covers what the simulator writes:
a tree of fixed-size numeric branches, one value or one fixed-shape array per entry, given as numpy
columns in batches.  Each batch becomes one basket per branch, written to disk as it comes (memory stays
bounded by one batch); the tree, the keys list, the streamer list and the free-segments record are
written on :meth:`TreeWriter.close`, then the file header and the top directory are filled in.

Layout (32-bit seeks, so files stop short of ``TFile::kStartBigFile``, 2 GB)::

    0    file header ("root", version, fBEGIN=100, fEND, seeks and sizes of the records below)
    100  TKey "TFile" + name/title + TDirectory record (seek of the keys list)
         TKey "TBasket" + basket data          (one per branch per batch, in batch order)
         TKey "TTree"   + the tree object      (TTree v20 > TBranch v13 > TLeaf[IFDLB...] v1)
         TKey "TList"   "StreamerInfo" (the classes above, zlib: wms2.sandbox.rootstreamers)
         TKey "TFile"   keys list (the tree's key header)
         TKey "TFile"   free segments (fEND .. kStartBigFile)

Readers: uproot (validation, any reader) reads these files back exactly (``tests/sandbox/test_rootfile.py``);
the merge reads them with :mod:`wms2.sandbox.rootread`, which reads exactly this layout.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import numpy as np

from wms2.sandbox.rootio import (
    BASKET_HEADER_SIZE,
    MAP_OFFSET,
    OBJECT_BITS,
    START_BIG_FILE,
    TDIRECTORY_SIZE,
    Key,
    any_object,
    any_object_header_size,
    basket_header,
    datime,
    file_header,
    tdirectory,
    tfree,
    tnamed,
    tobjarray,
    tstring,
    versioned,
)
from wms2.sandbox.rootstreamers import streamer_list

#: ROOT release written in the header (6.24/00: a ROOT 6 whose TTree/TBranch/TLeaf versions these are).
ROOT_VERSION = 62400
#: Offset of the top directory's key (``fBEGIN``): the file header is padded to it.
BEGIN = 100
#: ``fBasketSize``: ROOT's default basket buffer size (bytes); a larger basket records its own size.
BASKET_SIZE = 32000
#: dtype (kind, itemsize) -> (leaf type letter, TLeaf class, struct format of fMinimum/fMaximum).
LEAF_TYPES: dict[tuple[str, int], tuple[str, str, str]] = {
    ("b", 1): ("O", "TLeafO", ">??"),
    ("i", 1): ("B", "TLeafB", ">bb"),
    ("u", 1): ("b", "TLeafB", ">BB"),
    ("i", 2): ("S", "TLeafS", ">hh"),
    ("u", 2): ("s", "TLeafS", ">HH"),
    ("i", 4): ("I", "TLeafI", ">ii"),
    ("u", 4): ("i", "TLeafI", ">II"),
    ("i", 8): ("L", "TLeafL", ">qq"),
    ("u", 8): ("l", "TLeafL", ">QQ"),
    ("f", 4): ("F", "TLeafF", ">ff"),
    ("f", 8): ("D", "TLeafD", ">dd"),
}
#: ``TObject::fBits`` of a branch (ROOT 6 sets ``kDoNotUseBufferMap``) and of a tree (``kMustCleanup``).
BRANCH_BITS = OBJECT_BITS | 0x00400000
TREE_BITS = OBJECT_BITS | 0x00000008
#: ``ROOT::TIOFeatures`` as ROOT streams it: byte count 7, version 0 and the class checksum, no bits set.
IO_FEATURES = struct.pack(">Ihib", 7 | 0x40000000, 0, 0x1AA12F10, 0)
#: ROOT's TTree defaults for the members this writer does not use (ROOT's TTree constructor).
TREE_DEFAULTS = {"scan_field": 25, "entry_offset_len": 1000, "max_entries": 1_000_000_000_000,
                 "auto_save": -300_000_000, "auto_flush": -30_000_000, "estimate": 1_000_000}


@dataclass
class _Branch:
    """One branch: its on-disk type and the baskets written so far."""

    name: str
    dtype: np.dtype  # big-endian
    shape: tuple[int, ...]  # per entry
    basket_bytes: list[int] = field(default_factory=list)
    basket_entry: list[int] = field(default_factory=list)
    basket_seek: list[int] = field(default_factory=list)

    @property
    def letter(self) -> str:
        return LEAF_TYPES[(self.dtype.kind, self.dtype.itemsize)][0]

    @property
    def length(self) -> int:
        """Values per entry (``TLeaf::fLen``)."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def entry_size(self) -> int:
        return self.length * self.dtype.itemsize

    @property
    def dims(self) -> str:
        return "".join(f"[{d}]" for d in self.shape)

    @property
    def tot_bytes(self) -> int:
        return sum(self.basket_bytes)


def _branch_of(name: object, column: np.ndarray) -> _Branch:
    if not isinstance(name, str) or not name or any(c in name for c in "/[]:"):
        raise ValueError(f"branch name {name!r}: must be a non-empty string without '/', '[', ']' or ':'")
    key = (column.dtype.kind, column.dtype.itemsize)
    if key not in LEAF_TYPES:
        raise ValueError(f"branch {name!r}: dtype {column.dtype} is not a fixed-size number or bool")
    if column.ndim < 1:
        raise ValueError(f"branch {name!r}: needs one value (or array) per entry, got a scalar")
    shape = tuple(int(d) for d in column.shape[1:])
    if any(d <= 0 for d in shape):
        raise ValueError(f"branch {name!r}: per-entry shape {shape} has an empty dimension")
    return _Branch(name, column.dtype.newbyteorder(">"), shape)


class TreeWriter:
    """Write one ``TTree`` into a new ROOT file at ``path``: ``write`` batches, then ``close``.

    The first batch fixes the branches (names in order, dtypes, per-entry shapes); it may have zero
    entries.  Every later batch must have the same branches.  Use as a context manager: the file is
    finished on a normal exit and left incomplete (and closed) when the block raises.
    """

    def __init__(self, path: str | os.PathLike[str], tree: str = "Events", title: str = ""):
        self.path = Path(path)
        self.tree = tree
        self.title = title
        self.entries = 0
        self._branches: list[_Branch] | None = None
        self._batches: list[int] = []
        self._stamp = datime()
        self._uuid = os.urandom(16)
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed by close()/__exit__
        self._pos = BEGIN + self._top_key().nbytes
        self._file.write(b"\x00" * self._pos)  # header and top directory: filled in by close()

    # public ------------------------------------------------------------------------------------
    def write(self, data: Mapping[str, np.ndarray]) -> None:
        """Append one batch (branch name -> array whose first dimension is the entry)."""
        columns = {name: np.asarray(values) for name, values in data.items()}
        if self._branches is None:
            if not columns:
                raise ValueError(f"tree {self.tree!r}: the first batch has no branches")
            self._branches = [_branch_of(name, col) for name, col in columns.items()]
        n = self._check(columns)
        if n == 0:
            return
        for branch in self._branches:
            self._write_basket(branch, columns[branch.name], n)
        self._batches.append(n)
        self.entries += n

    def close(self) -> None:
        """Write the tree and the file's bookkeeping records; the file is then complete."""
        if self._file.closed:
            return
        try:
            self._finish()
        finally:
            self._file.close()

    def __enter__(self) -> TreeWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self._file.close()

    # baskets -----------------------------------------------------------------------------------
    def _check(self, columns: dict[str, np.ndarray]) -> int:
        assert self._branches is not None
        names = [b.name for b in self._branches]
        if set(columns) != set(names):
            raise ValueError(f"tree {self.tree!r}: batch branches {sorted(columns)} differ from {sorted(names)}")
        if any(col.ndim < 1 for col in columns.values()):
            raise ValueError(f"tree {self.tree!r}: branches {sorted(k for k, c in columns.items() if c.ndim < 1)} "
                             "are scalars, not one value (or array) per entry")
        n = len(columns[names[0]])
        for branch in self._branches:
            col = columns[branch.name]
            if len(col) != n:
                raise ValueError(f"branch {branch.name!r}: {len(col)} entries, branch {names[0]!r} has {n}")
            if col.dtype.newbyteorder(">") != branch.dtype or col.shape[1:] != branch.shape:
                raise ValueError(f"branch {branch.name!r}: {col.dtype}{list(col.shape[1:])} differs from the "
                                 f"first batch's {branch.dtype}{list(branch.shape)}")
        return n

    def _write_basket(self, branch: _Branch, column: np.ndarray, n: int) -> None:
        data = np.ascontiguousarray(column, dtype=branch.dtype)
        size = n * branch.entry_size
        probe = Key("TBasket", branch.name, self.tree, size, 0, BEGIN, 0, self._stamp,
                    b"\x00" * BASKET_HEADER_SIZE)
        last = probe.keylen + size
        header = basket_header(max(BASKET_SIZE, last), branch.entry_size, n, last)
        key = Key("TBasket", branch.name, self.tree, size, self._pos, BEGIN, 0, self._stamp, header)
        self._guard(self._pos + key.nbytes)
        self._file.write(key.header())
        self._file.write(data.data)
        branch.basket_bytes.append(key.nbytes)
        branch.basket_entry.append(self.entries)
        branch.basket_seek.append(self._pos)
        self._pos += key.nbytes

    def _guard(self, end: int) -> None:
        if end > START_BIG_FILE:
            self._file.close()
            raise ValueError(f"ROOT file {self.path}: {end} bytes exceeds the {START_BIG_FILE}-byte limit of "
                             "this writer (32-bit seeks; files over 2 GB are not supported)")

    # closing -----------------------------------------------------------------------------------
    def _append(self, key: Key, body: bytes) -> Key:
        assert key.nbytes == key.keylen + len(body), (key, len(body))
        self._guard(self._pos + key.nbytes)
        self._file.write(key.header())
        self._file.write(body)
        self._pos += key.nbytes
        return key

    def _finish(self) -> None:
        if self._branches is None:
            raise ValueError(f"tree {self.tree!r}: nothing was written (no batch gave its branches)")
        keylen = Key("TTree", self.tree, self.title, 0, 0, BEGIN).keylen
        tree = _tree_object(self, keylen)
        tree_key = self._append(Key("TTree", self.tree, self.title, len(tree), self._pos, BEGIN, 1,
                                    self._stamp), tree)
        size, infos = streamer_list()
        info_key = self._append(Key("TList", "StreamerInfo", "Doubly linked list", size, self._pos, BEGIN, 1,
                                    self._stamp, stored=len(infos)), infos)
        keys = struct.pack(">i", 1) + tree_key.header()
        keys_key = self._append(Key("TFile", self.path.name, "", len(keys), self._pos, BEGIN, 1,
                                    self._stamp), keys)
        free_key = Key("TFile", self.path.name, "", len(tfree(0, 0)), self._pos, BEGIN, 1, self._stamp)
        end = self._pos + free_key.nbytes
        self._append(free_key, tfree(end, START_BIG_FILE))
        top = self._top_key()
        name_bytes = tstring(self.path.name) + tstring("")
        nbytes_name = top.keylen + len(name_bytes)
        directory = tdirectory(self._stamp, keys_key.nbytes, nbytes_name, BEGIN, keys_key.seek, self._uuid)
        head = file_header(ROOT_VERSION, BEGIN, end, free_key.seek, free_key.nbytes, 1, nbytes_name,
                           info_key.seek, info_key.nbytes, self._uuid)
        self._file.seek(0)
        self._file.write(head + top.header() + name_bytes + directory)

    def _top_key(self) -> Key:
        objlen = len(tstring(self.path.name)) + len(tstring("")) + TDIRECTORY_SIZE
        return Key("TFile", self.path.name, "", objlen, BEGIN, 0, 1, self._stamp)

    def cluster_ranges(self) -> tuple[list[int], list[int], int]:
        """``fClusterRangeEnd``, ``fClusterSize`` and ``fAutoFlush`` describing one cluster per batch."""
        groups: list[list[int]] = []  # [entries per batch, batches]
        for n in self._batches:
            if groups and groups[-1][0] == n:
                groups[-1][1] += 1
            else:
                groups.append([n, 1])
        if len(groups) > 1 and groups[-1][1] == 1 and groups[-1][0] < groups[-2][0]:
            groups.pop()  # a short last batch is the clipped end of the previous range
        if not groups:
            return [], [], TREE_DEFAULTS["auto_flush"]
        ends, sizes, done = [], [], 0
        for size, count in groups[:-1]:
            done += size * count
            ends.append(done - 1)
            sizes.append(size)
        return ends, sizes, groups[-1][0]


def _leaf(branch: _Branch) -> bytes:
    """``TLeaf<X>`` v1 over ``TLeaf`` v2: one leaf of ``fLen`` values of the branch's type."""
    letter, _, minmax = LEAF_TYPES[(branch.dtype.kind, branch.dtype.itemsize)]
    unsigned = letter.islower() and letter != "O"
    body = tnamed(branch.name, branch.name + branch.dims) + struct.pack(
        ">iiibbI", branch.length, branch.dtype.itemsize, 0, 0, unsigned, 0)  # no fLeafCount
    return versioned(1, versioned(2, body) + struct.pack(minmax, 0, 0))


def _branch_object(branch: _Branch, entries: int) -> tuple[bytes, int]:
    """``TBranch`` v13 and the offset (within it) of its leaf's "any object" record."""
    nbaskets = len(branch.basket_bytes)
    # fMaxBaskets: the per-basket arrays' length.  ROOT starts at 10 and grows them; a finished branch
    # needs one slot past its last basket, where fBasketEntry holds fEntries.
    max_baskets = nbaskets + 1
    head = (tnamed(branch.name, f"{branch.name}{branch.dims}/{branch.letter}", BRANCH_BITS)
            + versioned(2, struct.pack(">hh", 0, 1001))  # TAttFill
            + struct.pack(">iiiiq", 0, BASKET_SIZE, 0, nbaskets, entries) + IO_FEATURES
            + struct.pack(">iiiqqqq", 0, max_baskets, 0, entries, 0, branch.tot_bytes, branch.tot_bytes)
            + tobjarray(b"", 0))  # no sub-branches
    leaf_class = LEAF_TYPES[(branch.dtype.kind, branch.dtype.itemsize)][1]
    leaves = tobjarray(any_object(leaf_class, _leaf(branch)), 1)
    tail = (tobjarray(b"", 0)  # fBaskets: none kept in memory
            + b"\x01" + np.array([*branch.basket_bytes, 0], ">i4").tobytes()
            + b"\x01" + np.array([*branch.basket_entry, entries], ">i8").tobytes()
            + b"\x01" + np.array([*branch.basket_seek, 0], ">i8").tobytes()
            + tstring(""))  # fFileName: this file
    leaf_at = 6 + len(head) + _ARRAY_HEAD
    return versioned(13, head + leaves + tail), leaf_at


#: Bytes a :func:`tobjarray` puts before its first element (count + version, TObject, name, size, bound).
_ARRAY_HEAD = 6 + 10 + 1 + 8


def _tree_object(writer: TreeWriter, keylen: int) -> bytes:
    """``TTree`` v20 with its branches and the list of leaf references, as stored under a key of ``keylen``."""
    assert writer._branches is not None
    tot = sum(b.tot_bytes for b in writer._branches)
    ends, sizes, auto_flush = writer.cluster_ranges()
    d = TREE_DEFAULTS
    head = (tnamed(writer.tree, writer.title, TREE_BITS)
            + versioned(2, struct.pack(">hhh", 602, 1, 1))  # TAttLine
            + versioned(2, struct.pack(">hh", 0, 1001))  # TAttFill
            + versioned(2, struct.pack(">hhf", 1, 1, 1.0))  # TAttMarker
            + struct.pack(">qqqqqdiiiiiqqqqqq", writer.entries, tot, tot, tot, tot, 1.0, 0, d["scan_field"], 0,
                          d["entry_offset_len"], len(ends), d["max_entries"], d["max_entries"], 0,
                          d["auto_save"], auto_flush, d["estimate"]))
    for values in (ends, sizes):
        head += (b"\x01" + np.array(values, ">i8").tobytes()) if values else b"\x00"
    head += IO_FEATURES
    elements, refs = b"", []
    base = keylen + 6 + len(head) + _ARRAY_HEAD  # where the first branch record starts
    for branch in writer._branches:
        body, leaf_at = _branch_object(branch, writer.entries)
        refs.append(base + len(elements) + any_object_header_size("TBranch") + leaf_at + MAP_OFFSET)
        elements += any_object("TBranch", body)
    branches = tobjarray(elements, len(writer._branches))
    leaves = tobjarray(np.array(refs, ">u4").tobytes(), len(refs))
    # fAliases, fIndexValues (TArrayD), fIndex (TArrayI), fTreeIndex, fFriends, fUserInfo, fBranchRef: empty
    return versioned(20, head + branches + leaves + b"\x00" * 28)


def write_tree(path: str | os.PathLike[str], data: Mapping[str, np.ndarray], tree: str = "Events") -> None:
    """Write ``data`` (branch name -> column) as the only tree of a new ROOT file, in one basket per branch."""
    with TreeWriter(path, tree) as writer:
        writer.write(data)
