"""Input locality from the real Rucio server: a dataset whose blocks sit on different RSEs is planned
with each WU only at the sites holding its data; a block only on tape gets a staging rule."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.rucio.conftest import cms_settings, unique_dataset
from wms2.core.workflow_manager import submit_documents
from wms2.db.session import Database
from wms2.db.tables import RequestRow
from wms2.devservices.rucio_dev import ServerState
from wms2.planning.service import input_file_rows, prepare_round, request_spec
from wms2.services.local_catalog import load_dataset
from wms2.services.outputs import OutputFile
from wms2.services.rucio_catalog import CmsBackend
from wms2.services.rucio_gateway import RucioGateway
from wms2.services.rucio_outputs import RucioCatalogWriter

# block -> where Rucio has it (the embedded file catalog knows no locations at all here)
PLACEMENT = {"a": ("T2_XX_SiteA", "T2_XX_SiteA"), "b": ("T1_XX_SiteB", "T1_XX_SiteB_Disk"),
             "c": ("T1_XX_SiteB", "T1_XX_SiteB_Tape")}
FILES_PER_BLOCK = 2


def _dataset_doc(dataset: str) -> dict[str, Any]:
    blocks = []
    for tag in PLACEMENT:
        files = [{"lfn": f"/store/data/Run2026A/{dataset.split('/')[1]}/RAW/v1/{tag}{i}.root", "size": 1000,
                  "events": 40, "checksum": "0a1b2c3d", "lumis": {"400001": [10 * (ord(tag) - 96) + i]}}
                 for i in range(FILES_PER_BLOCK)]
        blocks.append({"name": f"{dataset}#0000{tag}000-1111-2222-3333-444455556666", "files": files})
    return {"dataset": dataset, "blocks": blocks}


def _register_in_rucio(db: Database, gateway: RucioGateway, doc: dict[str, Any]) -> None:
    with db.session() as s:
        writer = RucioCatalogWriter(s, gateway, None)
        for block in doc["blocks"]:
            tag = block["name"].split("#")[1][4]
            site, rse = PLACEMENT[tag]
            files = [OutputFile(f["lfn"], f["size"], "0a1b2c3d", f["events"], site=site) for f in block["files"]]
            writer.open_block(doc["dataset"], block["name"])
            if rse.endswith("_Tape"):  # a tape-only block: register the replicas on the tape RSE directly
                writer.gw.call("add_replicas", rse, lambda c, r=rse, fs=files: c.add_replicas(rse=r, files=[
                    {"scope": "cms", "name": f.lfn, "bytes": f.size, "adler32": f.adler32} for f in fs]))
                writer.gw.call("attach_dids", block["name"], lambda c, b=block["name"], fs=files: c.attach_dids(
                    "cms", b, [{"scope": "cms", "name": f.lfn} for f in fs]))
            else:
                writer.register_files(doc["dataset"], block["name"], files)
            writer.close_block(block["name"])


def test_wus_only_where_the_data_is(rucio_server: ServerState, sqlite_db: Database, tmp_path: Path,
                                   rucio_client: Any, gateway: RucioGateway) -> None:
    dataset = unique_dataset("RAW")
    doc = _dataset_doc(dataset)
    with sqlite_db.session() as s:
        load_dataset(s, doc)
    _register_in_rucio(sqlite_db, gateway, doc)
    settings = cms_settings(rucio_server, tmp_path)
    settings.planning.jobs_per_work_unit = 1  # one input file per WU: each WU's location is one block's
    sample = json.loads(resources.files("wms2.samples").joinpath("demo_lumimask.json").read_text())
    request = copy.deepcopy(sample)
    request.update({"InputDataset": dataset, "LumiList": {}, "LumisPerJob": 1, "RequestString": "Locality",
                    "SiteWhitelist": ["T2_XX_SiteA", "T1_XX_SiteB"]})
    with sqlite_db.session() as s:
        [row] = submit_documents(s, [("locality", request)], settings, by="test")
        name = row.name
    backend = CmsBackend.from_settings(settings)
    with sqlite_db.session() as s:
        row = s.scalar(select(RequestRow).where(RequestRow.name == name))
        from wms2.cli.plan import _preview_workflow

        prepared = prepare_round(s, row, _preview_workflow(row), settings, backend.catalog(s), dry_run=True)
        s.commit()
    by_site: dict[tuple[str, ...], set[str]] = {}
    for wu in prepared.plan.work_units:
        tags = {lfn.rsplit("/", 1)[1][0] for lfn in wu.input_lfns()}
        by_site.setdefault(wu.sites, set()).update(tags)
    # block a only at SiteA, block b only at SiteB; block c (tape only) has no disk copy: no constraint
    for sites, tags in by_site.items():
        if "a" in tags:
            assert sites == ("T2_XX_SiteA",), by_site
        if "b" in tags:
            assert sites == ("T1_XX_SiteB",), by_site
        if "c" in tags:
            assert sites == (), by_site
    assert {t for tags in by_site.values() for t in tags} == {"a", "b", "c"}
    assert list(rucio_client.list_did_rules("cms", doc["blocks"][2]["name"])) == []  # a preview stages nothing
    with sqlite_db.session() as s:
        rows = input_file_rows(request_spec(s.scalar(select(RequestRow).where(RequestRow.name == name))),
                               backend.catalog(s), stage=True)
        s.commit()
    assert {r["lfn"].rsplit("/", 1)[1][0]: tuple(r["locations"]) for r in rows} == {
        "a": ("T2_XX_SiteA",), "b": ("T1_XX_SiteB",), "c": ()}
    # the tape-only block got one staging rule to the whitelisted sites' disks; blocks a and b none
    rules = {b["name"]: [(r["rse_expression"], r["activity"]) for r in rucio_client.list_did_rules("cms", b["name"])]
             for b in doc["blocks"]}
    tape_block = doc["blocks"][2]["name"]
    assert rules[tape_block] == [("T1_XX_SiteB_Disk|T2_XX_SiteA", "Staging")]
    assert rules[doc["blocks"][0]["name"]] == [] and rules[doc["blocks"][1]["name"]] == []
