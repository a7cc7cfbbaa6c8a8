"""The flat-tree reader (wms2.sandbox.rootread): exact agreement with uproot on TreeWriter's files, ``None``
for every other file, and the merge that uses it (uproot only for foreign inputs)."""

from __future__ import annotations

import itertools
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import uproot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wms2.sandbox.merge import merge_root_files
from wms2.sandbox.rootfile import TreeWriter, write_tree
from wms2.sandbox.rootread import FlatTree, NotFlatTree, _Source, _tree_key, inspect_flat_tree, read_flat_tree

RNG = np.random.default_rng(20261203)


def _batch(n: int, first: int = 0, payload: int = 12) -> dict[str, np.ndarray]:
    return {
        "run": np.full(n, 1, dtype=np.int32),
        "event": np.arange(first, first + n, dtype=np.int64) + 1,
        "pt": RNG.exponential(35.0, n).astype(np.float32),
        "weight": RNG.normal(1.0, 0.05, n),
        "flag": RNG.random(n) < 0.5,
        "count": RNG.integers(0, 2**64, n, dtype=np.uint64),
        "small": RNG.integers(-128, 128, n, dtype=np.int8),
        "cell": RNG.integers(-(2**15), 2**15, (n, 2, 3), dtype=np.int16),
        "payload": RNG.integers(0, 256, (n, payload), dtype=np.uint8),
    }


def _write(path: Path, batches: list[dict[str, np.ndarray]]) -> None:
    with TreeWriter(path) as writer:
        for batch in batches:
            writer.write(batch)


def _read_all(tree: FlatTree) -> dict[str, np.ndarray]:
    parts = list(tree.batches()) or [tree.empty_batch()]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _assert_agrees_with_uproot(path: Path) -> FlatTree:
    """Entries, names (in order), on-disk dtypes, per-entry shapes and every value as uproot reads them."""
    tree = read_flat_tree(path)
    assert tree is not None, inspect_flat_tree(path)
    reference = uproot.open(path)["Events"]
    assert tree.entries == reference.num_entries
    assert [b.name for b in tree.branches] == reference.keys()
    expected = reference.arrays(library="np")
    got = _read_all(tree)
    assert list(got) == reference.keys()
    for branch in tree.branches:
        on_disk = reference[branch.name].interpretation.from_dtype
        assert branch.dtype == on_disk.base and branch.shape == on_disk.shape, branch.name
        values, want = got[branch.name], expected[branch.name]
        assert values.dtype == want.dtype and values.dtype.isnative and values.shape == want.shape, branch.name
        assert np.array_equal(values, want, equal_nan=values.dtype.kind == "f"), branch.name
    return tree


def test_batches_agree_with_uproot_and_with_what_was_written(tmp_path: Path) -> None:
    batches = [_batch(40), _batch(40, 40), _batch(9, 80)]
    _write(tmp_path / "a.root", batches)
    tree = _assert_agrees_with_uproot(tmp_path / "a.root")
    assert tree.entries == 89
    read = list(tree.batches())
    assert [len(b["run"]) for b in read] == [40, 40, 9]  # one basket set per written batch
    for mine, theirs in zip(read, batches, strict=True):
        assert list(mine) == list(theirs)
        for name, values in theirs.items():
            assert np.array_equal(mine[name], values), name
    assert [first for _, _, first in tree.branches[0].baskets] == [0, 40, 80]
    assert tree.branches[-1].shape == (12,) and tree.branches[-2].shape == (2, 3)
    assert tree.branches[1].dtype == np.dtype(">i8")


def test_zero_entries(tmp_path: Path) -> None:
    write_tree(tmp_path / "e.root", _batch(0))
    tree = _assert_agrees_with_uproot(tmp_path / "e.root")
    assert tree.entries == 0 and list(tree.batches()) == []
    empty = tree.empty_batch()
    assert empty["payload"].shape == (0, 12) and empty["cell"].shape == (0, 2, 3)
    assert empty["count"].dtype == np.uint64 and all(b.baskets == () for b in tree.branches)


_DTYPES = ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]


@st.composite
def _trees(draw: st.DrawFn) -> tuple[dict[str, np.ndarray], list[int]]:
    n = draw(st.integers(0, 50))
    columns = {}
    for i in range(draw(st.integers(1, 4))):
        dtype = np.dtype(draw(st.sampled_from(_DTYPES)))
        shape = tuple(draw(st.lists(st.integers(1, 4), max_size=2)))
        raw = np.frombuffer(draw(st.binary(min_size=n * int(np.prod(shape)) * dtype.itemsize,
                                           max_size=n * int(np.prod(shape)) * dtype.itemsize)) or b"",
                            np.uint8)
        values = raw.view(dtype) if dtype != np.bool_ else raw % 2 == 1
        columns[f"b{i}"] = values.reshape((n, *shape))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=4)))
    return columns, cuts


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_trees())
def test_property_agrees_with_uproot_on_random_trees(tmp_path: Path, case: tuple[dict, list[int]]) -> None:
    columns, cuts = case
    path = tmp_path / "p.root"
    bounds = [0, *cuts, len(next(iter(columns.values())))]
    _write(path, [{k: v[a:b] for k, v in columns.items()} for a, b in itertools.pairwise(bounds)])
    tree = _assert_agrees_with_uproot(path)
    got = _read_all(tree)
    for name, values in columns.items():
        assert got[name].dtype == values.dtype.newbyteorder("=") and got[name].shape == values.shape
        assert got[name].tobytes() == np.ascontiguousarray(values).tobytes(), name  # NaNs bit for bit
    assert len(list(tree.batches())) == len({b for a, b in itertools.pairwise(bounds) if b > a})


def _reason(path: Path) -> str:
    assert read_flat_tree(path) is None
    with pytest.raises(NotFlatTree) as info:
        inspect_flat_tree(path)
    assert str(path) in str(info.value)
    return str(info.value)


def test_uproot_written_files_are_left_to_uproot(tmp_path: Path) -> None:
    data = {"event": np.arange(5, dtype=np.int64), "payload": np.ones((5, 3), np.uint8)}
    with uproot.recreate(tmp_path / "rntuple.root") as f:
        f["Events"] = data
    assert "class ROOT::RNTuple, not TTree" in _reason(tmp_path / "rntuple.root")
    for name, compression in [("zlib.root", uproot.ZLIB(1)), ("plain.root", None)]:
        with uproot.recreate(tmp_path / name, compression=compression) as f:
            f.mktree("Events", {"event": np.int64, "payload": ("u1", (3,))})
            f["Events"].extend(data)
            f["Events"].extend(data)
        assert "64-bit seeks" in _reason(tmp_path / name)  # uproot writes big-file keys (version 1004)


def test_missing_tree_and_not_root(tmp_path: Path) -> None:
    write_tree(tmp_path / "a.root", _batch(3))
    assert "0 keys named 'Other'" in _reason_tree(tmp_path / "a.root", "Other")
    (tmp_path / "text.root").write_bytes(b"hello, this is not a ROOT file at all" * 3)
    assert "no 'root' magic" in _reason(tmp_path / "text.root")
    with pytest.raises(FileNotFoundError):
        read_flat_tree(tmp_path / "absent.root")


def _reason_tree(path: Path, tree: str) -> str:
    assert read_flat_tree(path, tree) is None
    with pytest.raises(NotFlatTree) as info:
        inspect_flat_tree(path, tree)
    return str(info.value)


def _patch(path: Path, offset: int, fmt: str, value: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(struct.pack(fmt, value))


def test_compressed_basket_and_other_versions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.root"
    _write(path, [_batch(20), _batch(5, 20)])
    tree = read_flat_tree(path)
    assert tree is not None
    seek, _nbytes, _ = tree.branches[2].baskets[1]
    _patch(path, seek + 6, ">i", 4 * 5 * 3)  # fObjlen above the stored bytes: a compressed basket
    assert "branch 'pt' basket 1" in _reason(path) and "not an uncompressed basket" in _reason(path)
    _write(path, [_batch(20)])
    with open(path, "rb") as f:
        key = _tree_key(_Source(path, f.fileno(), os.fstat(f.fileno()).st_size), "Events")
    _patch(path, key.seek + key.keylen + 4, ">h", 19)
    assert "TTree version 19 (reads 20)" in _reason(path)


def test_truncated_files_are_refused_and_a_shrunk_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "a.root"
    _write(path, [_batch(30), _batch(30, 30)])
    whole = path.read_bytes()
    for size in [len(whole) - 1, len(whole) * 3 // 4, len(whole) // 2, 120, 50, 0]:
        cut = tmp_path / f"cut{size}.root"
        cut.write_bytes(whole[:size])
        assert read_flat_tree(cut) is None, size
    tree = read_flat_tree(path)
    assert tree is not None
    seek = tree.branches[0].baskets[1][0]
    path.write_bytes(whole[: seek + 30])
    with pytest.raises(ValueError, match=r"basket 1 of branch 'run' is truncated"):
        list(tree.batches())


def test_merge_joins_basket_sets_and_falls_back_for_foreign_inputs(tmp_path: Path) -> None:
    ours = [_batch(25), _batch(25, 25), _batch(7, 50)]
    _write(tmp_path / "ours.root", ours)
    keep = ["run", "event", "payload"]
    foreign = {"run": np.full(6, 2, np.int32), "event": np.arange(6, dtype=np.int64) + 900,
               "payload": np.full((6, 12), 7, np.uint8)}
    with uproot.recreate(tmp_path / "foreign.root", compression=uproot.ZLIB(1)) as f:
        f.mktree("Events", {"run": np.int32, "event": np.int64, "payload": ("u1", (12,))})
        f["Events"].extend(foreign)
    _write(tmp_path / "ours2.root", [{k: ours[0][k] for k in keep}])
    write_tree(tmp_path / "trimmed.root", {k: np.concatenate([b[k] for b in ours]) for k in keep})
    inputs = [str(tmp_path / n) for n in ("trimmed.root", "foreign.root", "ours2.root")]
    assert merge_root_files(inputs, tmp_path / "m.root") == 57 + 6 + 25
    merged = _assert_agrees_with_uproot(tmp_path / "m.root")
    assert [first for _, _, first in merged.branches[0].baskets] == [0, 57, 63]  # one basket set per input
    got = _read_all(merged)
    assert got["event"].tolist() == [*range(1, 58), *range(900, 906), *range(1, 26)]
    assert np.array_equal(got["payload"][57:63], foreign["payload"])
    assert merge_root_files([str(tmp_path / "ours.root")], tmp_path / "one.root") == 57
    one = _assert_agrees_with_uproot(tmp_path / "one.root")
    assert len(one.branches[0].baskets) == 1  # the three batches joined (under the 64 MB step)


_SMALL = {"event": np.arange(6, dtype=np.int64), "payload": np.arange(18, dtype=np.uint8).reshape(6, 3)}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_property_a_corrupted_byte_gives_none_or_a_consistent_tree(tmp_path: Path, data: st.DataObject) -> None:
    """Any one byte changed: ``None`` (never another exception), or a tree whose batches read in full."""
    path = tmp_path / "c.root"
    _write(path, [{k: v[:4] for k, v in _SMALL.items()}, {k: v[4:] for k, v in _SMALL.items()}])
    raw = bytearray(path.read_bytes())
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] = data.draw(st.integers(0, 255).filter(lambda b: b != raw[at]))
    path.write_bytes(bytes(raw))
    tree = read_flat_tree(path)
    if tree is not None:
        got = _read_all(tree)
        assert all(len(v) == tree.entries for v in got.values())


def test_batches_are_writable_native_arrays(tmp_path: Path) -> None:
    write_tree(tmp_path / "a.root", _batch(4))
    tree = read_flat_tree(tmp_path / "a.root")
    assert tree is not None
    (batch,) = tree.batches()
    for name, values in batch.items():
        assert values.flags.writeable and values.dtype.isnative, name
    batch["event"] += 1  # the caller owns its arrays
    assert batch["event"].tolist() == [2, 3, 4, 5]
