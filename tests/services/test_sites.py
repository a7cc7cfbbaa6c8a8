"""Site catalog: config-backed, and CRIC selected by the older ``engine.cric_url`` (against a tiny local
HTTP server; the CRIC reader itself is tested in ``tests/cric``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from wms2.config import EngineSettings, LocalSite, Settings, SitesSettings
from wms2.domain.enums import SiteStatus
from wms2.services.cric import CricCatalog
from wms2.services.sites import (
    ConfigSiteCatalog,
    SiteCatalogError,
    SiteInfo,
    check_site_name,
    make_site_catalog,
)

SITE_NAMES = {
    "desc": {"columns": ["type", "site_name", "alias"]},
    "result": [
        ["psn", "CERN", "T2_CH_CERN"],
        ["phedex", "CERN", "T2_CH_CERN"],
        ["cms", "CERN", "T2_CH_CERN"],
        ["lcg", "CERN-PROD", "CERN-PROD"],
        ["psn", "USCMS-FNAL-WC1", "T1_US_FNAL"],
        ["phedex", "USCMS-FNAL-WC1", "T1_US_FNAL_Disk"],
        ["phedex", "USCMS-FNAL-WC1", "T1_US_FNAL_MSS"],
        ["psn", "T3_US_FNALLPC", "T3_US_FNALLPC"],
    ],
}
DATA_PROCESSING = {
    "desc": {"columns": ["phedex_name", "psn_name"]},
    "result": [
        ["T2_CH_CERN", "T2_CH_CERN"],
        ["T1_US_FNAL_Disk", "T1_US_FNAL"],
        ["T3_US_FNALLPC", "T1_US_FNAL"],
        ["T1_US_FNAL_Disk", "T3_US_FNALLPC"],
    ],
}


class FakeCric:
    """What the handler serves; ``requests`` records the raw paths it received."""

    def __init__(self) -> None:
        self.responses: dict[str, tuple[int, str]] = {
            "site-names": (200, json.dumps(SITE_NAMES)),
            "data-processing": (200, json.dumps(DATA_PROCESSING)),
        }
        self.requests: list[str] = []


@pytest.fixture
def cric() -> Iterator[tuple[str, FakeCric]]:
    state = FakeCric()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            parts = urlsplit(self.path)
            params = dict(p.partition("=")[::2] for p in parts.query.split("&"))
            if parts.path != "/api/cms/site/query/" or "json" not in params:
                code, body = 404, "not found"
            else:
                code, body = state.responses.get(params.get("preset", ""), (404, "unknown preset"))
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


# Names --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["T2_CH_CERN", "T1_US_FNAL_Disk", "T0_CH_CERN_MSS", "T3_US_FNALLPC", "T2_XX_Local"])
def test_valid_names(name: str) -> None:
    assert check_site_name(name, "x") == name


@pytest.mark.parametrize(
    "name", ["T4_CH_CERN", "T2_ch_CERN", "T2_CH", "T2_CHE_X", "T2_CH_", "T2_CH_CE-RN", "X2_CH_CERN", "", None, 3]
)
def test_invalid_names(name: Any) -> None:
    with pytest.raises(ValueError, match=r"where: .* is not a valid CMS site name"):
        check_site_name(name, "where")


# Config-backed ------------------------------------------------------------------------------------
def test_config_catalog() -> None:
    sites = [
        LocalSite(name="T2_XX_LocalA", cores=4, memory_mb=8000, slots=2),
        LocalSite(name="T1_XX_LocalB", cores=2, memory_mb=4000, slots=1),
    ]
    assert ConfigSiteCatalog(sites).list_sites() == [
        SiteInfo(name="T2_XX_LocalA", tier=2, status=SiteStatus.enabled, slots=2, cores=4, memory_mb=8000),
        SiteInfo(name="T1_XX_LocalB", tier=1, status=SiteStatus.enabled, slots=1, cores=2, memory_mb=4000),
    ]


def test_config_catalog_names_the_bad_entry() -> None:
    sites = [LocalSite(name="T2_XX_Ok", cores=1, memory_mb=1000), LocalSite(name="T2_LOCAL", cores=1, memory_mb=1)]
    with pytest.raises(SiteCatalogError, match=r"engine\.local_sites\[1\]\.name: 'T2_LOCAL'"):
        ConfigSiteCatalog(sites).list_sites()


def test_config_catalog_duplicate() -> None:
    site = LocalSite(name="T2_XX_Ok", cores=1, memory_mb=1000)
    with pytest.raises(SiteCatalogError, match="configured twice"):
        ConfigSiteCatalog([site, site]).list_sites()


# Factory ------------------------------------------------------------------------------------------
def test_make_site_catalog(tmp_path: Path, cric: tuple[str, FakeCric]) -> None:
    local = Settings(
        home=tmp_path, engine=EngineSettings(local_sites=[LocalSite(name="T2_XX_A", cores=1, memory_mb=1)])
    )
    assert isinstance(make_site_catalog(local), ConfigSiteCatalog)
    # engine.cric_url is the older spelling of [sites] backend = "cric": it selects the same CRIC reader.
    remote = Settings(home=tmp_path, engine=EngineSettings(cric_url=cric[0], cric_timeout_s=5))
    assert remote.sites.backend == "cric" and remote.sites.cric_url == cric[0]
    assert remote.sites.cric_timeout_s == 5
    catalog = make_site_catalog(remote)
    assert isinstance(catalog, CricCatalog)
    sites = {s.name: s for s in catalog.list_sites()}
    assert sorted(sites) == ["T1_US_FNAL", "T2_CH_CERN", "T3_US_FNALLPC"]  # psn rows only
    assert set(sites["T1_US_FNAL"].storage) == {"T1_US_FNAL_Disk", "T3_US_FNALLPC"}
    assert cric[1].requests == [
        "/api/cms/site/query/?json&preset=site-names&rcsite_state=ANY",
        "/api/cms/site/query/?json&preset=data-processing&rcsite_state=ANY",
    ]


def test_explicit_sites_section_wins_over_the_older_spelling(tmp_path: Path) -> None:
    files = {"cric_site_names_file": tmp_path / "a.json", "cric_data_processing_file": tmp_path / "b.json"}
    settings = Settings(home=tmp_path, engine=EngineSettings(cric_url="https://cric.example"),
                        sites=SitesSettings(backend="cric", **files))
    assert settings.sites.cric_url is None and settings.sites.cric_site_names_file == files["cric_site_names_file"]
