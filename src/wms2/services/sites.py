"""Site catalog: which CMS sites exist, their tier, status and slots.

Two implementations of :class:`SiteCatalog`:

- :class:`ConfigSiteCatalog`: the sites of ``settings.engine.local_sites`` (the local pool's slots);
- :class:`CricSiteCatalog`: CMS CRIC over HTTP (``/api/cms/site/query/?json&preset=site-names`` and
  ``preset=data-processing``, shapes in ``cms-formats.md`` §5).

CRIC has no site state (that is the Site Status Board), so CRIC sites carry ``status=None``.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from wms2.config import LocalSite, Settings
from wms2.domain.enums import SiteStatus
from wms2.domain.safety import SITE_RE

log = logging.getLogger(__name__)

SITE_QUERY_PATH = "/api/cms/site/query/"
PRESET_SITE_NAMES = "site-names"
PRESET_DATA_PROCESSING = "data-processing"
# CRIC row type of a processing site name (the name jobs and GLIDEIN_CMSSite use).
PSN_TYPE = "psn"


class SiteCatalogError(RuntimeError):
    """The site catalog cannot be read (unreachable, bad response, invalid configuration)."""


@dataclass(frozen=True)
class SiteInfo:
    name: str
    tier: int
    status: SiteStatus | None  # None: the source does not know (CRIC)
    slots: int | None  # None: the source does not know
    cores: int | None = None  # per slot
    memory_mb: int | None = None  # per slot
    facility: str | None = None  # CRIC site_name (rcsite)
    storage: tuple[str, ...] = ()  # storage nodes (PNN / RSE) this site may read from


class SiteCatalog(Protocol):
    def list_sites(self) -> list[SiteInfo]: ...


def check_site_name(name: Any, where: str) -> str:
    """A CMS site name (``^T[0-3]_[A-Z]{2}(_[A-Za-z0-9]+)+$``, WMCore ``Lexicon.cmsname``)."""
    if not isinstance(name, str) or not SITE_RE.match(name):
        raise ValueError(f"{where}: {name!r} is not a valid CMS site name (e.g. T2_CH_CERN)")
    return name


def site_tier(name: str) -> int:
    return int(check_site_name(name, "site")[1])


class ConfigSiteCatalog:
    """The configured local sites, all enabled."""

    def __init__(self, sites: Sequence[LocalSite]) -> None:
        self._sites = list(sites)

    @classmethod
    def from_settings(cls, settings: Settings) -> ConfigSiteCatalog:
        return cls(settings.engine.local_sites)

    def list_sites(self) -> list[SiteInfo]:
        out: list[SiteInfo] = []
        seen: set[str] = set()
        for i, site in enumerate(self._sites):
            where = f"engine.local_sites[{i}].name"
            try:
                name = check_site_name(site.name, where)
            except ValueError as exc:
                raise SiteCatalogError(str(exc)) from exc
            if name in seen:
                raise SiteCatalogError(f"{where}: site {name} is configured twice")
            seen.add(name)
            out.append(
                SiteInfo(
                    name=name,
                    tier=site_tier(name),
                    status=SiteStatus.enabled,
                    slots=site.slots,
                    cores=site.cores,
                    memory_mb=site.memory_mb,
                )
            )
        return out


def unflatten(doc: Any, what: str) -> list[dict[str, Any]]:
    """CRIC's flattened table (``{"desc": {"columns": [...]}, "result": [[...], ...]}``) as dicts."""
    if not isinstance(doc, dict):
        raise SiteCatalogError(f"{what}: expected a JSON object, got {type(doc).__name__}")
    desc = doc.get("desc")
    columns = desc.get("columns") if isinstance(desc, dict) else None
    rows = doc.get("result")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise SiteCatalogError(f"{what}: desc.columns is missing or not a list of names")
    if not isinstance(rows, list):
        raise SiteCatalogError(f"{what}: result is missing or not a list")
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            raise SiteCatalogError(f"{what}: result[{i}] does not have the {len(columns)} columns {columns}")
        out.append(dict(zip(columns, row, strict=True)))
    return out


def _require(rows: list[dict[str, Any]], columns: tuple[str, ...], what: str) -> None:
    if rows and not set(columns) <= set(rows[0]):
        raise SiteCatalogError(f"{what}: columns {sorted(columns)} expected, got {sorted(rows[0])}")


class CricSiteCatalog:
    """CMS CRIC client (X.509 client certificate when configured)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 30.0,
        cert: str | None = None,
        key: str | None = None,
        ca: str | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        if client is None:
            cert_arg: tuple[str, str] | str | None = (cert, key) if cert and key else cert
            client = httpx.Client(timeout=timeout_s, cert=cert_arg, verify=_verify(ca))
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> CricSiteCatalog:
        eng = settings.engine
        if not eng.cric_url:
            raise SiteCatalogError("engine.cric_url is not set")
        return cls(eng.cric_url, timeout_s=eng.cric_timeout_s, cert=eng.cric_cert, key=eng.cric_key, ca=eng.cric_ca)

    def close(self) -> None:
        self._client.close()

    def _preset(self, preset: str) -> list[dict[str, Any]]:
        url = f"{self._base}{SITE_QUERY_PATH}"
        what = f"CRIC {preset} ({url})"
        # "json" is a bare flag in CRIC's query string: ``?json&preset=...``.
        query = f"json&preset={preset}&rcsite_state=ANY"
        try:
            resp = self._client.get(f"{url}?{query}")
        except httpx.HTTPError as exc:
            raise SiteCatalogError(f"{what}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code != httpx.codes.OK:
            raise SiteCatalogError(f"{what}: HTTP {resp.status_code}: {resp.text[:200]}")
        try:
            doc = resp.json()
        except ValueError as exc:
            raise SiteCatalogError(f"{what}: response is not JSON: {exc}") from exc
        return unflatten(doc, what)

    def list_sites(self) -> list[SiteInfo]:
        names = self._preset(PRESET_SITE_NAMES)
        _require(names, ("type", "site_name", "alias"), f"CRIC {PRESET_SITE_NAMES}")
        links = self._preset(PRESET_DATA_PROCESSING)
        _require(links, ("phedex_name", "psn_name"), f"CRIC {PRESET_DATA_PROCESSING}")
        storage: dict[str, set[str]] = {}
        for row in links:
            storage.setdefault(str(row["psn_name"]), set()).add(str(row["phedex_name"]))
        sites: dict[str, SiteInfo] = {}
        for row in names:
            if row["type"] != PSN_TYPE:
                continue
            name = row["alias"]
            if not isinstance(name, str) or not SITE_RE.match(name):
                log.warning("CRIC: skipping processing site %r: not a valid CMS site name", name)
                continue
            sites[name] = SiteInfo(
                name=name,
                tier=site_tier(name),
                status=None,
                slots=None,
                facility=str(row["site_name"]) if row["site_name"] is not None else None,
                storage=tuple(sorted(storage.get(name, ()))),
            )
        return [sites[n] for n in sorted(sites)]


def _verify(ca: str | None) -> ssl.SSLContext | bool:
    if ca is None:
        return True
    path = Path(ca)
    if path.is_dir():  # e.g. /etc/grid-security/certificates
        return ssl.create_default_context(capath=str(path))
    if path.is_file():
        return ssl.create_default_context(cafile=str(path))
    raise SiteCatalogError(f"engine.cric_ca: {ca} is neither a file nor a directory")


def make_site_catalog(settings: Settings) -> SiteCatalog:
    """CRIC when ``engine.cric_url`` is set, else the configured local sites."""
    if settings.engine.cric_url:
        return CricSiteCatalog.from_settings(settings)
    return ConfigSiteCatalog.from_settings(settings)


# Storage-node name endings that are not where a site's jobs write their outputs (tape, buffers, exports).
_NOT_OUTPUT_STORAGE = ("_Tape", "_MSS", "_Buffer", "_Export", "_Temp", "_Test")


def output_rse(site: SiteInfo) -> str | None:
    """The disk storage node (Rucio RSE) where ``site``'s jobs write, from CRIC's ``data-processing``
    links: ``<site>_Disk``, else an RSE named like the site, else the only other disk-like one; None
    when CRIC lists none or several candidates (then ``[catalog] site_rses`` must say)."""
    storage = set(site.storage)
    for preferred in (f"{site.name}_Disk", site.name):
        if preferred in storage:
            return preferred
    disk = sorted(s for s in storage if not s.endswith(_NOT_OUTPUT_STORAGE))
    return disk[0] if len(disk) == 1 else None


def site_rse_map(sites: Sequence[SiteInfo]) -> dict[str, str]:
    """PSN (the GLIDEIN_CMSSite value of the site's slots) -> output RSE, for every site CRIC resolves."""
    out: dict[str, str] = {}
    for site in sites:
        rse = output_rse(site)
        if rse is not None:
            out[site.name] = rse
    return out
