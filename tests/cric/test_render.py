"""A round planned with ``[sites] backend = "cric"``: the landing job's Requirements name the whitelisted
processing sites (GLIDEIN_CMSSite values) and the DAG and submit files parse with the project's own
parsers; a whitelist naming a storage node stops planning with a clear message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import wms2.db.models  # noqa: F401
from wms2.config import Settings, load_settings
from wms2.core.workflow_manager import create_workflow, revalidate, submit_documents
from wms2.dagman.parser import parse_dag
from wms2.dagman.submit import parse_submit
from wms2.db.base import Base
from wms2.db.session import Database
from wms2.db.tables import RequestRow, WorkflowRow
from wms2.engines.local import classad_expr as classad
from wms2.planning.round import PlanningError
from wms2.planning.service import prepare_round
from wms2.services.local_catalog import LocalCatalog

from .conftest import file_settings

WHITELIST = ["T1_US_FNAL", "T2_XX_SiteC"]
BLACKLIST = ["T2_DE_DESY"]


def mc_request(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "RequestName": "cric_mc_request", "RequestType": "MonteCarlo", "RequestPriority": 90000,
        "RequestNumEvents": 40_000, "EventsPerJob": 10_000, "Memory": 2000, "Multicore": 1, "TimePerEvent": 1.0,
        "SizePerEvent": 10.0, "PrimaryDataset": "TestPrimary", "AcquisitionEra": "TestEra",
        "ProcessingString": "Test", "ProcessingVersion": 1, "CMSSWVersion": "CMSSW_14_0_0",
        "ScramArch": "el9_amd64_gcc12", "WMS2Adaptive": False,
    }
    doc.update(extra)
    return doc


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'wms2.db'}")
    Base.metadata.create_all(database.engine)
    try:
        yield database
    finally:
        database.engine.dispose()


def _plan(db: Database, settings: Settings, doc: dict[str, Any]) -> Path:
    with db.session() as s:
        (sub,) = submit_documents(s, [("t", doc)], settings, by="test")
        row = s.scalar(select(RequestRow).where(RequestRow.name == sub.name))
        assert row is not None
        wf: WorkflowRow = create_workflow(s, row, revalidate(row, settings))
        prepared = prepare_round(s, row, wf, settings, LocalCatalog(s), sandbox=False)
        assert prepared.submit_dir is not None
        return prepared.submit_dir


def _slot(site: str) -> classad.ClassAd:
    return classad.ClassAd.from_literals({"GLIDEIN_CMSSite": site, "Cpus": 8, "Memory": 16000})


def test_landing_requirements_name_the_whitelisted_processing_sites(tmp_path: Path, db: Database) -> None:
    settings = file_settings(tmp_path)
    root = _plan(db, settings, mc_request(SiteWhitelist=WHITELIST, SiteBlacklist=BLACKLIST))
    outer = parse_dag(root / "workflow.dag")
    assert outer.nodes and all(n.is_subdag for n in outer.nodes.values())
    wdir = root / next(iter(outer.nodes))
    group = parse_dag(wdir / "group.dag")
    landing = group.nodes["landing"]
    text = (wdir / "landing.sub").read_text()
    assert '(GLIDEIN_CMSSite =?= "T1_US_FNAL" || GLIDEIN_CMSSite =?= "T2_XX_SiteC")' in text
    assert '(GLIDEIN_CMSSite =!= "T2_DE_DESY")' in text
    desc = parse_submit(wdir / "landing.sub", prepend=landing.vars)
    requirements = desc.expand(desc.raw("requirements") or "")
    job = classad.ClassAd(dict(desc.attrs))
    matches = {site: classad.evaluate(requirements, job, _slot(site))
               for site in ("T1_US_FNAL", "T2_XX_SiteC", "T2_DE_DESY", "T2_CH_CERN", "T1_US_FNAL_Disk")}
    assert matches == {"T1_US_FNAL": True, "T2_XX_SiteC": True, "T2_DE_DESY": False, "T2_CH_CERN": False,
                       "T1_US_FNAL_Disk": False}
    assert desc.attrs["CMS_NodeRole"] == '"Landing"'


def test_storage_node_in_whitelist_stops_planning(tmp_path: Path, db: Database) -> None:
    settings = file_settings(tmp_path)
    with pytest.raises(PlanningError, match=r"site_whitelist: T1_US_FNAL_Disk is a storage node \(PNN\).*"
                                            r"processing sites reading it: T1_US_FNAL, T3_US_FNALLPC"):
        _plan(db, settings, mc_request(SiteWhitelist=["T1_US_FNAL_Disk"]))
    assert not (settings.submit_base / "cric_mc_request").exists(), "nothing rendered"


def test_local_backend_unchanged(tmp_path: Path, db: Database) -> None:
    """Without CRIC the names are used as written (a storage node name just never matches a slot)."""
    root = _plan(db, load_settings(tmp_path / "home"), mc_request(SiteWhitelist=["T1_US_FNAL_Disk"]))
    assert '(GLIDEIN_CMSSite =?= "T1_US_FNAL_Disk")' in (root / "mg_000000" / "landing.sub").read_text()


def test_site_sync_records_the_output_rse(tmp_path: Path, db: Database) -> None:
    from wms2.core.actions import sync_sites
    from wms2.db.tables import SiteRow
    from wms2.services.sites import make_site_catalog

    settings = file_settings(tmp_path)
    with db.session() as s:
        assert sync_sites(s, make_site_catalog(settings)) == 7
        rows = {r.name: (r.tier, r.storage_element) for r in s.scalars(select(SiteRow))}
    assert rows["T1_US_FNAL"] == (1, "T1_US_FNAL_Disk") and rows["T2_XX_SiteC"] == (2, "T2_XX_SiteC_Store")
    assert "T1_US_FNAL_Disk" not in rows, "storage nodes are not sites"
