"""Site catalog: which CMS sites exist, their tier, status and slots.

Two implementations of :class:`SiteCatalog`:

- :class:`ConfigSiteCatalog`: the sites of ``settings.engine.local_sites`` (the local pool's slots);
- :class:`wms2.services.cric.CricCatalog`: CMS CRIC's ``site-names`` and ``data-processing`` tables
  (``[sites] backend = "cric"``, shapes in ``cms-formats.md`` §5).

CRIC has no site state (that is the Site Status Board), so CRIC sites carry ``status=None``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from wms2.config import LocalSite, Settings
from wms2.domain.enums import SiteStatus
from wms2.domain.safety import SITE_RE

log = logging.getLogger(__name__)



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


def make_site_catalog(settings: Settings) -> SiteCatalog:
    """CRIC's tables for ``[sites] backend = "cric"`` (:mod:`wms2.services.cric`; ``engine.cric_url``
    selects it too), else the configured local sites."""
    if settings.sites.backend == "cric":
        from wms2.services.cric import CricCatalog

        return CricCatalog.from_settings(settings)
    return ConfigSiteCatalog.from_settings(settings)
