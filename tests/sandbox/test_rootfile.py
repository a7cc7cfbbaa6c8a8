"""The simulator's own ROOT writer (wms2.sandbox.rootfile): uproot, the merge and validation read it back."""

from __future__ import annotations

import itertools
import struct
from pathlib import Path

import numpy as np
import pytest
import uproot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wms2.sandbox.merge import merge_root_files
from wms2.sandbox.rootfile import TreeWriter, write_tree
from wms2.validation.scan import ScanTask, read_schema, scan
from wms2.validation.stats import Binning

RNG = np.random.default_rng(20261203)


def _batch(n: int, nbytes: int, first: int = 0) -> dict[str, np.ndarray]:
    """The simulator's branches, in its order: ids, physics-like columns, a filler payload."""
    data = {
        "run": np.full(n, 1, dtype=np.int32),
        "luminosityBlock": (np.arange(first, first + n) // 100 + 1).astype(np.int32),
        "event": np.arange(first, first + n, dtype=np.int64) + 1,
        "nJet": RNG.poisson(3.5, n).astype(np.int32),
        "LeadJet_pt": RNG.exponential(35.0, n).astype(np.float32),
        "genWeight": RNG.normal(1.0, 0.05, n),
        "flag": RNG.integers(0, 256, n, dtype=np.uint8),
    }
    if nbytes:
        data["payload"] = RNG.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    return data


def _concat(batches: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([b[name] for b in batches]) for name in batches[0]}


def _assert_reads_back(path: Path, expected: dict[str, np.ndarray]) -> None:
    tree = uproot.open(path)["Events"]
    n = len(next(iter(expected.values())))
    assert tree.num_entries == n
    assert tree.keys() == list(expected)
    got = tree.arrays(library="np")
    for name, values in expected.items():
        branch = tree[name]
        on_disk = branch.interpretation.from_dtype  # big-endian, with the per-entry shape
        assert on_disk.base == values.dtype.newbyteorder(">") and on_disk.shape == values.shape[1:], name
        assert got[name].dtype == values.dtype and got[name].shape == values.shape, name
        assert np.array_equal(got[name], values, equal_nan=values.dtype.kind == "f"), name


def test_batches_read_back_with_types_and_order(tmp_path: Path) -> None:
    batches = [_batch(300, 40), _batch(300, 40, 300), _batch(17, 40, 600)]
    path = tmp_path / "out.root"
    with TreeWriter(path) as writer:
        for b in batches:
            writer.write(b)
    _assert_reads_back(path, _concat(batches))
    tree = uproot.open(path)["Events"]
    assert [tree[n].typename for n in ("run", "event", "LeadJet_pt", "genWeight", "flag", "payload")] == [
        "int32_t", "int64_t", "float", "double", "uint8_t", "uint8_t[40]"]
    assert tree["payload"].title == "payload[40]/b"
    assert tree["payload"].num_baskets == 3
    assert list(tree["payload"].member("fBasketEntry")[:4]) == [0, 300, 600, 617]
    # fTotBytes counts key headers and data, as ROOT's: the sum of the baskets' on-disk sizes
    assert tree["payload"].uncompressed_bytes == sum(tree["payload"].member("fBasketBytes"))
    assert tree["payload"].uncompressed_bytes > 617 * 40


def test_zero_entries_keep_the_branches(tmp_path: Path) -> None:
    empty = _batch(0, 8)
    write_tree(tmp_path / "empty.root", empty)
    tree = uproot.open(tmp_path / "empty.root")["Events"]
    assert tree.num_entries == 0 and tree.keys() == list(empty)
    assert tree.arrays(library="np")["payload"].shape == (0, 8)
    _assert_reads_back(tmp_path / "empty.root", empty)


def test_no_payload_branch(tmp_path: Path) -> None:
    data = _batch(50, 0)
    assert "payload" not in data
    write_tree(tmp_path / "out.root", data)
    _assert_reads_back(tmp_path / "out.root", data)


def test_empty_batches_are_skipped(tmp_path: Path) -> None:
    batches = [_batch(0, 4), _batch(10, 4), _batch(0, 4), _batch(5, 4, 10)]
    with TreeWriter(tmp_path / "out.root") as writer:
        for b in batches:
            writer.write(b)
    _assert_reads_back(tmp_path / "out.root", _concat(batches))
    assert uproot.open(tmp_path / "out.root")["Events"]["run"].num_baskets == 2


def test_large_file_many_baskets(tmp_path: Path) -> None:
    batches = [_batch(500, 4000, 500 * i) for i in range(12)]  # 24 MB of payload, 12 baskets per branch
    path = tmp_path / "big.root"
    with TreeWriter(path) as writer:
        for b in batches:
            writer.write(b)
    assert path.stat().st_size > 12 * 500 * 4000
    _assert_reads_back(path, _concat(batches))
    tree = uproot.open(path)["Events"]
    assert tree["payload"].num_baskets == 12
    assert tree.member("fAutoFlush") == 500 and tree.member("fNClusterRange") == 0


def test_cluster_ranges_describe_uneven_batches(tmp_path: Path) -> None:
    sizes = [100, 100, 40, 40, 40, 7]
    with TreeWriter(tmp_path / "out.root") as writer:
        for i, n in enumerate(sizes):
            writer.write(_batch(n, 2, sum(sizes[:i])))
    tree = uproot.open(tmp_path / "out.root")["Events"]
    assert list(tree.member("fClusterRangeEnd")) == [199]
    assert list(tree.member("fClusterSize")) == [100]
    assert tree.member("fAutoFlush") == 40


def test_leaves_are_the_branches_own(tmp_path: Path) -> None:
    """The tree's fLeaves are references to the leaves streamed inside the branches (same objects)."""
    write_tree(tmp_path / "out.root", _batch(5, 3))
    tree = uproot.open(tmp_path / "out.root")["Events"]
    leaves = tree.member("fLeaves")
    assert [leaf.member("fName") for leaf in leaves] == tree.keys()
    assert all(leaf is b.member("fLeaves")[0] for leaf, b in zip(leaves, tree.branches, strict=True))
    assert leaves[-1].member("fLen") == 3 and leaves[-1].member("fTitle") == "payload[3]"


def test_file_records_are_consistent(tmp_path: Path) -> None:
    """Header, top directory, keys list, streamer list and free segments point where they should."""
    path = tmp_path / "out.root"
    write_tree(path, _batch(20, 4))
    raw = path.read_bytes()
    assert raw[:4] == b"root"
    _version, begin, end, seek_free, nbytes_free, nfree, _name, _units, _comp, seek_info, nbytes_info = (
        struct.unpack(">iiiiiiiBiii", raw[4:45]))
    assert begin == 100 and end == len(raw) and nfree == 1
    assert seek_free + nbytes_free == end
    assert struct.unpack(">hii", raw[end - 10:]) == (1, end, 2_000_000_000)
    info = uproot.open(path).file
    assert info.streamers is not None
    assert raw[seek_info:seek_info + nbytes_info].find(b"StreamerInfo") > 0
    assert uproot.open(path).keys() == ["Events;1"]


@pytest.mark.parametrize("bad", [
    {"x": np.array(["a"])},
    {"x": np.array(1, dtype=np.int32)},
    {"a/b": np.zeros(3, dtype=np.int32)},
    {"x": np.zeros((3, 0), dtype=np.uint8)},
    {"x": np.zeros(3, dtype=np.int32), "y": np.zeros(4, dtype=np.int32)},
])
def test_bad_columns_are_refused(tmp_path: Path, bad: dict[str, np.ndarray]) -> None:
    with pytest.raises(ValueError, match="branch"):
        write_tree(tmp_path / "bad.root", bad)


def test_later_batch_must_match(tmp_path: Path) -> None:
    with TreeWriter(tmp_path / "out.root") as writer:
        writer.write({"x": np.zeros(3, dtype=np.int32)})
        with pytest.raises(ValueError, match="'x'"):
            writer.write({"x": np.zeros(3, dtype=np.int64)})
        with pytest.raises(ValueError, match="differ"):
            writer.write({"y": np.zeros(3, dtype=np.int32)})
        with pytest.raises(ValueError, match="scalars"):
            writer.write({"x": np.array(3, dtype=np.int32)})
        writer.write({"x": np.ones(2, dtype=">i4")})  # same type, other byte order: accepted
    assert list(uproot.open(tmp_path / "out.root")["Events"]["x"].array(library="np")) == [0, 0, 0, 1, 1]


def test_over_2gb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wms2.sandbox.rootfile as rootfile

    monkeypatch.setattr(rootfile, "START_BIG_FILE", 10_000)
    writer = TreeWriter(tmp_path / "big.root")
    with pytest.raises(ValueError, match=r"\d+ bytes exceeds the 10000-byte limit"):
        writer.write({"payload": np.zeros((10, 2000), dtype=np.uint8)})


def test_merge_reads_these_files(tmp_path: Path) -> None:
    a, b = _batch(120, 16), _batch(80, 16, 120)
    write_tree(tmp_path / "a.root", a)
    with TreeWriter(tmp_path / "b.root") as writer:
        writer.write({k: v[:50] for k, v in b.items()})
        writer.write({k: v[50:] for k, v in b.items()})
    write_tree(tmp_path / "e.root", _batch(0, 16))
    inputs = [str(tmp_path / n) for n in ("a.root", "e.root", "b.root")]
    assert merge_root_files(inputs, tmp_path / "merged.root") == 200
    merged = uproot.open(tmp_path / "merged.root")["Events"].arrays(library="np")
    expected = _concat([a, b])
    assert sorted(merged) == sorted(expected)
    for name, values in expected.items():
        got = np.asarray(merged[name].tolist(), dtype=values.dtype) if merged[name].dtype == object else merged[name]
        assert np.array_equal(got, values), name


def test_merge_of_only_empty_files(tmp_path: Path) -> None:
    write_tree(tmp_path / "e1.root", _batch(0, 16))
    write_tree(tmp_path / "e2.root", _batch(0, 16))
    assert merge_root_files([str(tmp_path / "e1.root"), str(tmp_path / "e2.root")], tmp_path / "m.root") == 0
    assert sorted(uproot.open(tmp_path / "m.root")["Events"].keys()) == sorted(_batch(0, 16))


def test_validation_scans_these_files(tmp_path: Path) -> None:
    data = _batch(400, 8)
    write_tree(tmp_path / "out.root", data)
    schema = read_schema(str(tmp_path / "out.root"), prefix_entries=10)
    tree = schema.trees["Events"]
    assert tree.entries == 400
    assert tree.numeric == {"run": True, "luminosityBlock": True, "event": True, "nJet": True,
                            "LeadJet_pt": False, "genWeight": False, "flag": True, "payload": True}
    assert np.array_equal(schema.samples["Events"]["event"], data["event"][:10])
    assert tree.bytes_per_entry >= sum(v[0].nbytes for v in data.values())
    binning = Binning(lo=0.0, hi=500.0, n=50, low=0.0, high=500.0)
    result = scan(ScanTask(("ref", "g", "Events"), str(tmp_path / "out.root"), 0, 400, ("LeadJet_pt",), 1.0,
                           {"LeadJet_pt": binning}))
    moments = result.moments["LeadJet_pt"]
    assert moments.n == 400
    assert moments.mean == pytest.approx(float(data["LeadJet_pt"].astype(np.float64).mean()), rel=1e-6)
    assert result.counts["LeadJet_pt"].sum() == 400


_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64,
           np.float32, np.float64, np.bool_]


@st.composite
def _tables(draw: st.DrawFn) -> tuple[list[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    ncols = draw(st.integers(1, 5))
    columns = []
    for i in range(ncols):
        dtype = np.dtype(draw(st.sampled_from(_DTYPES)))
        shape = tuple(draw(st.lists(st.integers(1, 4), max_size=2)))
        columns.append((f"b{i}_{dtype.name}", dtype, shape))
    total = draw(st.integers(0, 60))
    cuts = sorted(draw(st.lists(st.integers(0, total), max_size=4)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    full = {}
    for name, dtype, shape in columns:
        size = (total, *shape)
        if dtype.kind == "f":
            values = rng.normal(0, 1e3, size).astype(dtype)
        elif dtype.kind == "b":
            values = rng.integers(0, 2, size).astype(bool)
        else:
            info = np.iinfo(dtype)
            values = rng.integers(info.min, info.max, size, dtype=dtype, endpoint=True)
        full[name] = values
    bounds = [0, *cuts, total]
    batches = [{k: v[lo:hi] for k, v in full.items()} for lo, hi in itertools.pairwise(bounds)]
    return batches, full


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=_tables())
def test_property_uproot_reads_back_what_was_written(tmp_path: Path,
                                                      table: tuple[list[dict[str, np.ndarray]],
                                                                   dict[str, np.ndarray]]) -> None:
    batches, full = table
    path = tmp_path / "prop.root"
    with TreeWriter(path) as writer:
        for batch in batches:
            writer.write(batch)
    _assert_reads_back(path, full)


def _streamer_facts(path: Path) -> dict[str, tuple]:
    """Class -> (version, checksum, elements' kinds/types/sizes/bases/counters), titles left out."""
    facts = {}
    for name, versions in uproot.open(path).file.streamers.items():
        for version, info in versions.items():
            elements = tuple(
                (type(e).__name__, *(e.all_members.get(k) for k in (
                    "fName", "fType", "fSize", "fTypeName", "fArrayLength", "fArrayDim", "fBaseVersion",
                    "fCountVersion", "fCountName", "fCountClass")), tuple(int(i) for i in e.member("fMaxIndex")))
                for e in info.elements)
            facts[name] = (version, info.member("fCheckSum"), elements)
    return facts


def test_streamer_infos_match_those_uproot_writes(tmp_path: Path) -> None:
    """Every class the file describes is described as uproot describes it in its own TTree files (which
    carry the streamer infos of ROOT's classes): versions, checksums, member types, sizes, bases."""
    columns = {f"x_{np.dtype(t).name}": np.zeros(2, dtype=t) for t in _DTYPES}
    write_tree(tmp_path / "mine.root", columns)
    with uproot.recreate(tmp_path / "ref.root", compression=None) as ref:
        ref.mktree("Events", {name: values.dtype for name, values in columns.items()})
        ref["Events"].extend(columns)
    mine, theirs = _streamer_facts(tmp_path / "mine.root"), _streamer_facts(tmp_path / "ref.root")
    assert {"TTree", "TBranch", "TLeaf", "TLeafI", "TLeafB", "TLeafO", "TObjArray", "TNamed"} <= set(mine)
    for name, facts in mine.items():
        assert facts == theirs[name], name
    _assert_reads_back(tmp_path / "mine.root", columns)
