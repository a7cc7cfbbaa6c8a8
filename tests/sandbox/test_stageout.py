from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from wms2.sandbox.manifest import StageOutSpec
from wms2.sandbox.stageout import (
    StageOut,
    StageOutError,
    StorageDescriptionError,
    adler32_of,
    choose_write_protocol,
    copy_command,
    resolve_lfn,
)

VOLUME = {
    "site": "T2_XX_Test",
    "volume": "XX_dCache",
    "protocols": [
        {
            "protocol": "pnfs",
            "access": "virtual",
            "rules": [
                {"lfn": "/+store/unmerged/(.*)", "pfn": "/pnfs/xx/cms/unmerged/$1"},
                {"lfn": "/+(.*)", "pfn": "/pnfs/xx/cms/$1"},
            ],
        },
        {"protocol": "XRootD", "access": "global-ro", "prefix": "root://xrootd.xx.org:1094/"},
        {
            "protocol": "WebDAV",
            "access": "global-rw",
            "rules": [
                {"lfn": "/pnfs/(.*)", "pfn": "davs://webdav.xx.org:2880/pnfs/$1", "chain": "pnfs"},
            ],
        },
        {
            "protocol": "SRM",
            "access": "site-rw",
            "rules": [
                {"lfn": "/+store/(.*)", "pfn": "srm://srm.xx.org:8443/srm/managerv2?SFN=/data/store/$1"},
            ],
        },
    ],
}


def test_local_put_pfn_remove(tmp_path: Path) -> None:
    src = tmp_path / "out.root"
    data = b"x" * 100_000 + b"y" * 5
    src.write_bytes(data)
    so = StageOut(StageOutSpec(mode="local", storage_root=str(tmp_path / "storage")))
    lfn = "/store/unmerged/A/B/file.root"
    assert so.pfn(lfn) == str(tmp_path / "storage" / "store" / "unmerged" / "A" / "B" / "file.root")
    staged = so.put(src, lfn)
    assert staged.size == len(data)
    assert staged.adler32 == f"{zlib.adler32(data) & 0xFFFFFFFF:08x}" == adler32_of(staged.pfn)
    assert Path(staged.pfn).read_bytes() == data
    assert so.remove(lfn) is True and so.remove(lfn) is False
    assert not (tmp_path / "storage" / "store" / "unmerged").exists()  # empty dirs pruned
    assert (tmp_path / "storage").exists()


def test_local_rejects_foreign_lfns(tmp_path: Path) -> None:
    so = StageOut(StageOutSpec(mode="local", storage_root=str(tmp_path)))
    for lfn in ("/etc/passwd", "/store/../etc/passwd", "store/x.root"):
        with pytest.raises(StageOutError):
            so.pfn(lfn)
    with pytest.raises(StageOutError, match="not found"):
        so.put(tmp_path / "missing.root", "/store/a.root")


def test_prefix_rule_and_chain_resolution() -> None:
    assert resolve_lfn(VOLUME, "XRootD", "/store/mc/a.root") == "root://xrootd.xx.org:1094/store/mc/a.root"
    assert resolve_lfn(VOLUME, "pnfs", "/store/unmerged/x/a.root") == "/pnfs/xx/cms/unmerged/x/a.root"
    assert resolve_lfn(VOLUME, "pnfs", "/store/mc/a.root") == "/pnfs/xx/cms/store/mc/a.root"
    # chained: pnfs first, then the WebDAV rule on its result
    assert resolve_lfn(VOLUME, "WebDAV", "/store/unmerged/x/a.root") == (
        "davs://webdav.xx.org:2880/pnfs/xx/cms/unmerged/x/a.root"
    )
    assert resolve_lfn(VOLUME, "SRM", "/store/mc/a.root").endswith("SFN=/data/store/mc/a.root")
    with pytest.raises(StorageDescriptionError, match="no protocol"):
        resolve_lfn(VOLUME, "gsiftp", "/store/a.root")
    with pytest.raises(StorageDescriptionError, match="matches"):
        resolve_lfn(VOLUME, "SRM", "/other/a.root")


def test_chain_loop_detected() -> None:
    loop = {
        "volume": "L",
        "protocols": [
            {"protocol": "a", "rules": [{"lfn": "(.*)", "pfn": "$1", "chain": "b"}]},
            {"protocol": "b", "rules": [{"lfn": "(.*)", "pfn": "$1", "chain": "a"}]},
        ],
    }
    with pytest.raises(StorageDescriptionError, match="loop"):
        resolve_lfn(loop, "a", "/store/x")


def test_test_mode_uses_site_description(tmp_path: Path) -> None:
    desc = tmp_path / "storage.json"
    desc.write_text(json.dumps([VOLUME]))
    so = StageOut(StageOutSpec(mode="test", site_config=str(desc)), site="T2_XX_Test")
    assert so.pfn("/store/unmerged/x/a.root") == "davs://webdav.xx.org:2880/pnfs/xx/cms/unmerged/x/a.root"
    assert choose_write_protocol([VOLUME])[1] == "WebDAV"
    with pytest.raises(StorageDescriptionError):
        choose_write_protocol([VOLUME], site="T2_YY_Other")
    assert copy_command("a.root", "root://h//store/a.root")[0] == "xrdcp"
    assert copy_command("a.root", "davs://h/store/a.root")[:1] == ["gfal-copy"]
    with pytest.raises(StorageDescriptionError):
        StageOut(StageOutSpec(mode="production"))


def test_merge_root_files_keeps_entries_and_empty_trees(tmp_path: Path) -> None:
    import numpy as np
    import uproot

    from wms2.sandbox.merge import MergeError, merge_root_files

    paths = []
    for i, n in enumerate([0, 5, 0, 7]):
        path = tmp_path / f"in{i}.root"
        with uproot.recreate(path) as f:
            f["Events"] = {
                "event": np.arange(n, dtype=np.int64) + 100 * i,
                "payload": np.full((n, 3), i, dtype=np.uint8),
            }
        paths.append(str(path))
    assert merge_root_files(paths, tmp_path / "merged.root") == 12
    tree = uproot.open(tmp_path / "merged.root")["Events"]
    assert tree.classname == "TTree"  # uproot wrote the inputs as RNTuples; the merge writes what the simulator does
    assert sorted(tree["event"].array(library="np").tolist()) == [*range(100, 105), *range(300, 307)]
    payload = tree["payload"].array(library="np")
    assert payload.shape == (12, 3)
    assert payload[:5].tolist() == [[1] * 3] * 5 and payload[5:].tolist() == [[3] * 3] * 7
    with pytest.raises(MergeError, match="no unmerged files"):
        merge_root_files([], tmp_path / "none.root")
    assert merge_root_files([paths[0], paths[2]], tmp_path / "empty.root") == 0
    assert set(uproot.open(tmp_path / "empty.root")["Events"].keys()) == {"event", "payload"}
