"""The bulk block validator: the writer's payloads pass, and each rule the server/client applies bites."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.dbs.payloads import BLOCK, META, NOW, buffered, good_payload, lfn, output_files, parent
from wms2.services.dbs_payload import BufferedFile, bulkblock_payload
from wms2.services.dbs_validate import PayloadError, check_bulkblock, validate_bulkblock


def test_the_writers_payload_passes_and_has_the_documented_shape() -> None:
    doc = good_payload()
    assert validate_bulkblock(doc) == []
    assert set(doc) == {"dataset_conf_list", "file_conf_list", "files", "file_parent_list", "block_parent_list",
                        "dataset_parent_list", "processing_era", "acquisition_era", "primds", "dataset", "block"}
    assert doc["block"]["open_for_writing"] == 0 and doc["block"]["file_count"] == 3
    assert all("event_count" not in ls for f in doc["files"] for ls in f["file_lumi_list"])  # none: all-or-none
    assert doc["dataset_parent_list"] == ["/TTbar_TuneCP5_13p6TeV/Run3Summer24-WMS2Test-v1/GEN-SIM"]


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _one_lumi_count(doc: dict[str, Any]) -> None:
    doc["files"][0]["file_lumi_list"][0]["event_count"] = 50


def _all_lumi_counts_wrong_sum(doc: dict[str, Any]) -> None:
    for f in doc["files"]:
        for ls in f["file_lumi_list"]:
            ls["event_count"] = 1


def _duplicate_file(doc: dict[str, Any]) -> None:
    doc["files"].append(copy.deepcopy(doc["files"][0]))


def _duplicate_lumi(doc: dict[str, Any]) -> None:
    doc["files"][0]["file_lumi_list"].append(dict(doc["files"][0]["file_lumi_list"][0]))


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.pop(key)


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("bad dataset name", _set(["dataset", "dataset"], "/TT bar/x/AODSIM"), "dataset.dataset", "server"),
    ("block without id", _set(["block", "block_name"], "/TTbar/Run3-v1/AODSIM#"),
     "block.block_name", "server"),
    ("bad LFN", _set(["files", 0, "logical_file_name"], "/store/mc/x.root"), "files[0].logical_file_name", "server"),
    ("LFN too long", _set(["files", 0, "logical_file_name"], "/store/mc/a/b/c/d/" + "x" * 500 + ".root"),
     "files[0].logical_file_name", "server"),
    ("size as a string", _set(["files", 1, "file_size"], "1000001"), "files[1].file_size", "server"),
    ("size as a float", _set(["files", 1, "file_size"], 1000001.5), "files[1].file_size", "server"),
    ("empty file", _set(["files", 1, "file_size"], 0), "files[1].file_size", "server"),
    ("no adler32", _set(["files", 2, "adler32"], ""), "files[2].adler32", "server"),
    ("no check_sum", _set(["files", 2, "check_sum"], None), "files[2].check_sum", "server"),
    ("event count a bool", _set(["files", 0, "event_count"], True), "files[0].event_count", "server"),
    ("mixed lumi counts", _one_lumi_count, "files[*].file_lumi_list[*].event_count", "client"),
    ("lumi counts do not add up", _all_lumi_counts_wrong_sum, "files[0].event_count", "wms2"),
    ("duplicate file", _duplicate_file, "files[3].logical_file_name", "wms2"),
    ("duplicate lumi", _duplicate_lumi, "files[0].file_lumi_list[2]", "wms2"),
    ("lumi 0", _set(["files", 0, "file_lumi_list", 0, "lumi_section_num"], 0),
     "files[0].file_lumi_list[0].lumi_section_num", "server"),
    ("primary type", _set(["primds", "primary_ds_type"], "MC"), "primds.primary_ds_type", "server"),
    ("primary name", _set(["primds", "primary_ds_name"], "Other"), "dataset.dataset", "wms2"),
    ("access type", _set(["dataset", "dataset_access_type"], "OPEN"), "dataset.dataset_access_type", "server"),
    ("date in ms", _set(["block", "creation_date"], 1764748800000), "block.creation_date", "server"),
    ("date as text", _set(["primds", "creation_date"], "1764748800"), "primds.creation_date", "server"),
    ("origin site", _set(["block", "origin_site_name"], "local"), "block.origin_site_name", "server"),
    ("open block", _set(["block", "open_for_writing"], 1), "block.open_for_writing", "wms2"),
    ("file count", _set(["block", "file_count"], 2), "block.file_count", "wms2"),
    ("block size", _set(["block", "block_size"], 5), "block.block_size", "wms2"),
    ("block of another dataset", _set(["block", "block_name"], "/Other/Run3Summer24-WMS2Test-v1/AODSIM#abc"),
     "block.block_name", "wms2"),
    ("acquisition era", _set(["acquisition_era", "acquisition_era_name"], "2024era"),
     "acquisition_era.acquisition_era_name", "server"),
    ("processing version text", _set(["processing_era", "processing_version"], "v1"),
     "processing_era.processing_version", "server"),
    ("processed name vs version", _set(["processing_era", "processing_version"], 2), "dataset.processed_ds_name",
     "wms2"),
    ("release", _set(["dataset_conf_list", 0, "release_version"], "14_0_7"), "dataset_conf_list[0].release_version",
     "server"),
    ("global tag", _set(["dataset_conf_list", 0, "global_tag"], "a/b"), "dataset_conf_list[0].global_tag", "server"),
    ("file config of another file", _set(["file_conf_list", 0, "lfn"], lfn(99)), "file_conf_list[0].lfn", "wms2"),
    ("parent of another file", _set(["file_parent_list", 0, "logical_file_name"], lfn(99)),
     "file_parent_list[0].logical_file_name", "wms2"),
    ("bad parent LFN", _set(["file_parent_list", 0, "parent_logical_file_name"], "gensim.root"),
     "file_parent_list[0].parent_logical_file_name", "server"),
    ("parent dataset", _set(["dataset_parent_list"], [42]), "dataset_parent_list[0]", "server"),
    ("create_by", _set(["block", "create_by"], "bad user!"), "block.create_by", "server"),
    ("no files key", _drop("files"), "files", "server"),
    ("no block", _drop("block"), "block", "server"),
]


@pytest.mark.parametrize(("mutate", "path", "source"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_names_the_field(mutate: Callable[[dict[str, Any]], None], path: str, source: str) -> None:
    doc = good_payload()
    mutate(doc)
    problems = validate_bulkblock(doc)
    assert any(p.path == path and p.source == source for p in problems), [str(p) for p in problems]


def test_check_raises_with_the_block_and_the_problems() -> None:
    doc = good_payload()
    doc["block"]["origin_site_name"] = "nowhere"
    with pytest.raises(PayloadError, match=rf"bulk block {BLOCK}: block.origin_site_name: 'nowhere' is not a valid"):
        check_bulkblock(doc)
    assert validate_bulkblock([]) and validate_bulkblock(None)


_file_sets = st.lists(
    st.tuples(st.integers(1, 10**12), st.integers(0, 2**32 - 1), st.integers(0, 10**7),
              st.dictionaries(st.integers(1, 10**6), st.lists(st.integers(1, 2**32 - 1), min_size=1, max_size=5),
                              max_size=3),
              st.sampled_from(["T2_CH_CERN", "T1_US_FNAL_Disk", "T2_XX_SiteA"]), st.booleans()),
    min_size=1, max_size=6)


FileSpec = tuple[int, int, int, dict[int, list[int]], str, bool]


@settings(max_examples=30, deadline=None)
@given(_file_sets)
def test_every_block_the_writer_builds_passes(specs: list[FileSpec]) -> None:
    files = [BufferedFile(lfn(i), size, f"{adler:08x}", events, lumis, (parent(i),) if has_parent else (), site)
             for i, (size, adler, events, lumis, site, has_parent) in enumerate(specs)]
    doc = bulkblock_payload(META, BLOCK, files, NOW)
    assert validate_bulkblock(doc) == []
    assert doc["block"]["block_size"] == sum(s[0] for s in specs)


def test_per_lumi_counts_are_sent_for_all_lumis_or_for_none() -> None:
    files = buffered(output_files(2))
    complete = [replace(f, lumi_events={1: {ls: (f.events // 2 if k == 0 else f.events - f.events // 2)
                                            for k, ls in enumerate(f.lumis[1])}}) for f in files]
    doc = bulkblock_payload(META, BLOCK, complete, NOW)
    assert validate_bulkblock(doc) == []
    assert all("event_count" in ls for f in doc["files"] for ls in f["file_lumi_list"])
    assert sum(ls["event_count"] for ls in doc["files"][0]["file_lumi_list"]) == doc["files"][0]["event_count"]
    partial = [complete[0], files[1]]  # the second file's counts are unknown: none are sent
    doc = bulkblock_payload(META, BLOCK, partial, NOW)
    assert validate_bulkblock(doc) == []
    assert not any("event_count" in ls for f in doc["files"] for ls in f["file_lumi_list"])
