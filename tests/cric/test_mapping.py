"""Where the CRIC mapping is used: site lists, the site catalog choice, input locality (RSE -> sites),
the output RSE of each site."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import ValidationError

from wms2.config import load_settings
from wms2.services.catalog import Replica
from wms2.services.cric import (
    CricCatalog,
    CricRseReaders,
    SiteListError,
    check_request_sites,
    check_site_lists,
    cric_output_rses,
    load_topology,
)
from wms2.services.rucio_catalog import CmsBackend, RucioReplicaCatalog, rule_options
from wms2.services.rucio_names import site_rse
from wms2.services.sites import ConfigSiteCatalog, make_site_catalog

from .conftest import file_settings

T = TypeVar("T")


def test_whitelist_of_processing_sites_is_kept(tmp_path: Path) -> None:
    topo = load_topology(file_settings(tmp_path))
    lists = check_site_lists(topo, ["T2_CH_CERN", "T1_US_FNAL", "T2_CH_CERN"], ["T2_DE_DESY"])
    assert lists.allowed == ("T2_CH_CERN", "T1_US_FNAL") and lists.denied == ("T2_DE_DESY",)


def test_storage_node_in_a_list_is_refused_with_its_readers(tmp_path: Path) -> None:
    topo = load_topology(file_settings(tmp_path))
    with pytest.raises(SiteListError, match=r"site_whitelist: T1_US_FNAL_Disk is a storage node \(PNN\) in CRIC"
                                            r" .*; the processing sites reading it: T1_US_FNAL, T3_US_FNALLPC"):
        check_site_lists(topo, ["T2_CH_CERN", "T1_US_FNAL_Disk"], [])
    with pytest.raises(SiteListError, match=r"site_blacklist: T1_US_FNAL_MSS is a storage node .*reading it: none"):
        check_site_lists(topo, [], ["T1_US_FNAL_MSS"])


def test_unknown_whitelisted_site_refused_unknown_blacklisted_kept(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    topo = load_topology(file_settings(tmp_path))
    with pytest.raises(SiteListError, match=r"site_whitelist: T2_FR_GRIF is not a processing site \(PSN\)"):
        check_site_lists(topo, ["T2_FR_GRIF"], [])
    with caplog.at_level(logging.WARNING, logger="wms2.services.cric"):
        assert check_site_lists(topo, [], ["T2_FR_GRIF"]).denied == ("T2_FR_GRIF",)
    assert "T2_FR_GRIF is not a processing site" in caplog.text


def test_unreadable_cric_does_not_block_planning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = file_settings(tmp_path)
    assert settings.sites.cric_site_names_file is not None
    settings.sites.cric_site_names_file.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="wms2.services.cric"):
        lists = check_request_sites(settings, ["T2_FR_GRIF"], [])
    assert lists.allowed == ("T2_FR_GRIF",)
    assert "site lists not checked against CRIC" in caplog.text and "site-names.json: not JSON" in caplog.text


def test_site_catalog_choice(tmp_path: Path) -> None:
    assert isinstance(make_site_catalog(load_settings(tmp_path / "a")), ConfigSiteCatalog), "local stays the default"
    catalog = make_site_catalog(file_settings(tmp_path / "b"))
    assert isinstance(catalog, CricCatalog)
    assert [s.name for s in catalog.list_sites()][:2] == ["T1_US_FNAL", "T1_XX_SiteB"]


def test_settings_need_one_source(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r'backend = "cric" needs cric_url, or both cric_site_names_file'):
        load_settings(tmp_path, sites={"backend": "cric", "cric_site_names_file": tmp_path / "x.json"})
    with pytest.raises(ValidationError, match=r"set cric_url or the two cric_\*_file paths, not both"):
        load_settings(tmp_path, sites={"backend": "cric", "cric_url": "https://cms-cric.cern.ch",
                                       "cric_site_names_file": tmp_path / "a", "cric_data_processing_file": tmp_path})


def test_output_rse_of_the_site_that_wrote(tmp_path: Path) -> None:
    settings = file_settings(tmp_path)
    settings.catalog.site_rses = {"T2_DE_DESY": "T2_DE_DESY_Temp"}  # the operator's word wins
    assert cric_output_rses(settings)["T1_US_FNAL"] == "T1_US_FNAL_Disk"
    mapping = rule_options(settings).site_rses  # what RucioCatalogWriter uses for each file's site
    assert site_rse("T1_US_FNAL", mapping) == "T1_US_FNAL_Disk"
    assert site_rse("T3_US_FNALLPC", mapping) == "T3_US_FNALLPC"  # convention would say the same; CRIC agrees
    assert site_rse("T1_XX_SiteB", mapping) == "T1_XX_SiteB_Disk"
    assert site_rse("T2_XX_SiteC", mapping) == "T2_XX_SiteC_Store", "CRIC, not the convention (<site> for a T2)"
    assert site_rse("T2_DE_DESY", mapping) == "T2_DE_DESY_Temp"
    assert site_rse("T2_FR_GRIF", mapping) == "T2_FR_GRIF", "a site CRIC does not know: the CMS convention"


class FakeGateway:
    """The two Rucio calls replica lookup makes, answered from a table (RSE -> LFNs)."""

    scope = "cms"

    def __init__(self, replicas: dict[str, dict[str, list[str]]], tape: list[str]) -> None:
        self._replicas, self._tape = replicas, tape

    def call(self, call: str, did: str, fn: Callable[[Any], T]) -> T:
        return fn(self)

    def list_rses(self, expression: str) -> list[dict[str, str]]:
        assert expression == "rse_type=TAPE"
        return [{"rse": r} for r in self._tape]

    def list_replicas(self, dids: list[dict[str, str]]) -> list[dict[str, Any]]:
        return [{"scope": d["scope"], "name": d["name"], "rses": self._replicas.get(d["name"], {})} for d in dids]


def test_input_locality_through_data_processing(tmp_path: Path) -> None:
    settings = file_settings(tmp_path)
    settings.catalog.rucio_url = "http://127.0.0.1:1"  # never contacted: the gateway connects lazily
    backend = CmsBackend.from_settings(settings)
    assert isinstance(backend.rse_sites, CricRseReaders)
    fake = FakeGateway({
        "/store/a.root": {"T1_US_FNAL_Disk": ["pfn"], "T1_US_FNAL_MSS": ["pfn"]},
        "/store/b.root": {"T2_FR_GRIF": ["pfn"]},  # not in CRIC: the naming convention
        "/store/c.root": {"T3_US_FNALLPC": ["pfn"]},
        "/store/d.root": {"T2_XX_SiteC_Store": ["pfn"]},  # the convention would say site T2_XX_SiteC_Store
        "/store/e.root": {"T1_US_FNAL_Disk": ["pfn"], "T3_US_FNALLPC": ["pfn"]},  # both read by both sites
    }, tape=["T1_US_FNAL_MSS"])
    catalog = backend.catalog(None)  # type: ignore[arg-type]  # replicas never touch the session
    catalog.replica_catalog.gw = fake  # type: ignore[assignment]
    found = catalog.replicas(["/store/a.root", "/store/b.root", "/store/c.root", "/store/d.root", "/store/e.root"])
    assert found == {
        "/store/a.root": [Replica("T1_US_FNAL"), Replica("T3_US_FNALLPC"), Replica("T1_US_FNAL", is_tape=True)],
        "/store/b.root": [Replica("T2_FR_GRIF")],
        "/store/c.root": [Replica("T1_US_FNAL"), Replica("T3_US_FNALLPC")],
        "/store/d.root": [Replica("T2_XX_SiteC")],
        "/store/e.root": [Replica("T1_US_FNAL"), Replica("T3_US_FNALLPC")],
    }


def test_locality_unchanged_without_cric(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, catalog={"rucio_url": "http://127.0.0.1:1"})
    backend = CmsBackend.from_settings(settings)
    assert backend.rse_sites is None
    catalog = RucioReplicaCatalog(FakeGateway({"/store/a.root": {"T1_US_FNAL_Disk": []}}, []))  # type: ignore[arg-type]
    assert catalog.replicas(["/store/a.root"]) == {"/store/a.root": [Replica("T1_US_FNAL")]}


def test_readers_fall_back_when_cric_is_unreadable(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = file_settings(tmp_path)
    assert settings.sites.cric_data_processing_file is not None
    settings.sites.cric_data_processing_file.unlink()
    with caplog.at_level(logging.WARNING, logger="wms2.services.cric"):
        assert dict(CricRseReaders(settings)) == {}
    assert "RSE -> sites: CRIC unreadable" in caplog.text


def test_toml_sites_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What an operator writes in ``<home>/wms2.toml``."""
    from .conftest import write_tables

    names, links = write_tables(tmp_path / "cric")
    home = tmp_path / "home"
    home.mkdir()
    (home / "wms2.toml").write_text(f'[sites]\nbackend = "cric"\ncric_site_names_file = "{names}"\n'
                                    f'cric_data_processing_file = "{links}"\ncric_refresh_s = 600\n')
    monkeypatch.delenv("WMS2_CONFIG", raising=False)
    settings = load_settings(home)
    assert settings.sites.backend == "cric" and settings.sites.cric_site_names_file == names
    assert isinstance(make_site_catalog(settings), CricCatalog)
