"""The embedded catalog: load, generate (deterministic), selection rules, replicas, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wms2.cli import app
from wms2.db.base import Base
from wms2.db.session import Database
from wms2.services.catalog import CatalogError, CatalogFile, FileSelection, LumiSection, apply_selection
from wms2.services.local_catalog import LocalCatalog, generate_dataset, generate_description, load_dataset

DATASET = "/SingleMuon/Run2024A-PromptReco-v1/AOD"
SITES = ["T1_US_FNAL", "T2_CH_CERN", "T1_DE_KIT_Tape"]


def test_generation_is_deterministic() -> None:
    a = generate_description(DATASET, 30, 1000, 7, 3, SITES, seed=5)
    assert a == generate_description(DATASET, 30, 1000, 7, 3, SITES, seed=5)
    assert a != generate_description(DATASET, 30, 1000, 7, 3, SITES, seed=6)
    files = [f for b in a["blocks"] for f in b["files"]]
    assert len(files) == 30 and len({f["lfn"] for f in files}) == 30
    assert all(f["lfn"].startswith("/store/data/Run2024A/SingleMuon/AOD/PromptReco-v1/000/300/") for f in files)
    assert all(sum(n for _, _, n in f["lumis"]) == 1000 for f in files)
    lumis = [(r, lu) for f in files for r, lu, _ in f["lumis"]]
    assert len(set(lumis)) == len(lumis) == 210


def test_load_query_and_replicas(db: Database) -> None:
    with db.session() as s:
        summary = generate_dataset(s, DATASET, 25, 1000, 4, [1, 5], SITES, seed=1, files_per_block=10)
        assert (summary.files, summary.blocks, summary.lumis, summary.events) == (25, 3, 100, 25_000)
    with db.session() as s:
        cat = LocalCatalog(s)
        assert cat.dataset_exists(DATASET) and not cat.dataset_exists("/No/Such-v1/RAW")
        files = cat.files(DATASET)
        assert [f.lfn for f in files] == sorted(f.lfn for f in files)
        assert {r for f in files for r in f.lumis_by_run()} == {1, 5}
        reps = cat.replicas([files[0].lfn, "/store/unknown.root"])
        assert reps["/store/unknown.root"] == []
        assert reps[files[0].lfn] and all(r.is_tape == r.site.endswith("_Tape") for r in reps[files[0].lfn])
        run5 = cat.files(DATASET, FileSelection(run_whitelist=frozenset({5})))
        assert run5 and all(set(f.lumis_by_run()) == {5} for f in run5)
        assert len(run5) + len(cat.files(DATASET, FileSelection(run_blacklist=frozenset({5})))) == 25
        with pytest.raises(CatalogError, match="not in the local catalog"):
            cat.files("/No/Such-v1/RAW")
        with pytest.raises(CatalogError, match="already in the local catalog"):
            generate_dataset(s, DATASET, 1, 1, 1, 1, SITES)


def test_lumi_mask_keeps_selected_lumis_and_their_events() -> None:
    f = CatalogFile("/store/a.root", 10, 100, None, "b#1", tuple(LumiSection(1, lu) for lu in range(1, 5)))
    g = CatalogFile("/store/b.root", 10, 7, None, "b#1", (LumiSection(2, 1, 3), LumiSection(2, 2, 4)))
    out = apply_selection([f, g], FileSelection(lumi_mask={1: [(2, 3)], 2: [(2, 2)]}))
    assert [(x.lfn, x.events, x.lumis_by_run()) for x in out] == [
        ("/store/a.root", 50, {1: [2, 3]}), ("/store/b.root", 4, {2: [2]})]
    assert apply_selection([f], FileSelection(block_blacklist=frozenset({"b#1"}))) == []


@pytest.mark.parametrize(("doc", "field"), [
    ({"dataset": "bad"}, "dataset"),
    ({"dataset": DATASET, "files": [{"lfn": "/etc/passwd"}]}, "blocks[0].files[0].lfn"),
    ({"dataset": DATASET, "files": [{"lfn": "/store/a.root", "locations": ["Nowhere"]}]}, "locations"),
    ({"dataset": DATASET, "files": [{"lfn": "/store/a.root", "lumis": {"1": [1, 1]}}]}, "a lumi appears twice"),
    ({"dataset": DATASET, "files": [{"lfn": "/store/a.root", "events": -1}]}, "events"),
    ({"dataset": DATASET, "files": [{"lfn": "/store/a.root"}, {"lfn": "/store/a.root"}]}, "LFN appears twice"),
])
def test_load_errors_name_the_field(db: Database, doc: dict, field: str) -> None:
    with db.session() as s, pytest.raises(CatalogError, match=field.replace("[", r"\[").replace("]", r"\]")):
        load_dataset(s, doc)


def test_cli_generate_load_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("WMS2_HOME", str(home))
    db = Database(f"sqlite:///{home / 'wms2.db'}")
    Base.metadata.create_all(db.engine)
    db.dispose()
    runner = CliRunner()
    res = runner.invoke(app, ["catalog", "generate", "--dataset", DATASET, "--files", "12", "--events-per-file", "500",
                              "--lumis-per-file", "5", "--runs", "2", "--sites", "T2_CH_CERN,T1_US_FNAL", "--seed",
                              "3", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["files"] == 12
    doc = {"dataset": "/Other/Era-v1/RAW", "files": [
        {"lfn": "/store/data/x.root", "events": 10, "size": 5, "lumis": [[1, 1, 10]], "locations": ["T2_CH_CERN"]}]}
    (tmp_path / "ds.json").write_text(json.dumps(doc))
    res = runner.invoke(app, ["catalog", "load", str(tmp_path / "ds.json"), "--json"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["catalog", "show", DATASET, "--json"])
    assert json.loads(res.output)["events"] == 6000
    res = runner.invoke(app, ["catalog", "generate", "--dataset", "/Third/Run2024B-v1/RAW", "--files", "4",
                              "--events-per-file", "10", "--lumis-per-file", "2", "--runs", "1",
                              "--run-numbers", "305064,306125", "--sites", "T2_CH_CERN"])
    assert res.exit_code == 0, res.output
    with Database(f"sqlite:///{home / 'wms2.db'}").session() as s:
        runs = {r for f in LocalCatalog(s).files("/Third/Run2024B-v1/RAW") for r in f.lumis_by_run()}
    assert runs == {305064, 306125}
    res = runner.invoke(app, ["catalog", "load", str(tmp_path / "ds.json")])
    assert res.exit_code != 0 and "already" in res.output
