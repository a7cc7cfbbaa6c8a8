"""The CRIC-backed site catalog (``[sites] backend = "cric"``).

Reads CRIC's ``site-names`` and ``data-processing`` tables either over HTTPS (httpx; X.509 client
certificate or bearer token; timeout, retries with backoff on 5xx and connection failures, a size cap
while streaming) or from two local JSON files; the same parser (:mod:`wms2.services.cric_model`) reads
both.  What WMS2 takes from it:

- the site list (:meth:`CricCatalog.list_sites`, the :class:`~wms2.services.sites.SiteCatalog` protocol);
- whitelist/blacklist checks: the names must be processing sites (PSNs), since those are the
  ``GLIDEIN_CMSSite`` values HTCondor matches (:func:`check_site_lists`); WMS2 never picks a site;
- input locality: the PSNs that may read each RSE (:class:`CricRseReaders`);
- where a site writes: its disk RSE (:func:`cric_output_rses`).

A process reuses the tables it read for ``sites.cric_refresh_s`` (:func:`load_topology`).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from wms2.config import Settings, SitesSettings
from wms2.services.cric_model import (
    PRESET_DATA_PROCESSING,
    PRESET_SITE_NAMES,
    CricError,
    CricTopology,
    build_topology,
    decode_json,
    parse_data_processing,
    parse_site_names,
)
from wms2.services.retry import Backoff, RetriesExhausted, retrying
from wms2.services.sites import SiteInfo

log = logging.getLogger(__name__)

SITE_QUERY_PATH = "/api/cms/site/query/"
_CHUNK = 64 * 1024


# -- where the tables come from ------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class CricSource:
    """CRIC over HTTP(S) (``url``) or two local files; the limits apply to both.  Every value comes from
    ``[sites]`` (:class:`~wms2.config.SitesSettings`, where the defaults and their origin live)."""

    url: str | None
    site_names_file: Path | None
    data_processing_file: Path | None
    cert: Path | None
    key: Path | None
    ca: Path | None
    token_file: Path | None
    timeout_s: float
    retries: int
    retry_backoff_s: float
    max_bytes: int
    max_rows: int

    @classmethod
    def from_settings(cls, s: SitesSettings) -> CricSource:
        source = cls(url=s.cric_url, site_names_file=s.cric_site_names_file,
                     data_processing_file=s.cric_data_processing_file, cert=s.cric_cert, key=s.cric_key,
                     ca=s.cric_ca, token_file=s.cric_token_file, timeout_s=s.cric_timeout_s, retries=s.cric_retries,
                     retry_backoff_s=s.cric_retry_backoff_s, max_bytes=s.cric_max_bytes, max_rows=s.cric_max_rows)
        source.check()
        return source

    def check(self) -> None:
        files = (self.site_names_file, self.data_processing_file)
        if self.url is not None:
            if not self.url.startswith(("https://", "http://")):
                raise CricError(f"sites.cric_url: {self.url!r} is not an http(s) URL")
            if any(f is not None for f in files):
                raise CricError("sites: set cric_url or the two cric_*_file paths, not both")
        elif any(f is None for f in files):
            raise CricError('sites.backend = "cric" needs sites.cric_url, or both sites.cric_site_names_file'
                            " and sites.cric_data_processing_file")

    def read(self, presets: Sequence[str]) -> list[tuple[bytes, str]]:
        """Each preset's raw table and a label naming where it came from (for error messages); over
        HTTP one client (one TLS set-up) serves them all."""
        if self.url is None:
            out = []
            for preset in presets:
                path = self.site_names_file if preset == PRESET_SITE_NAMES else self.data_processing_file
                assert path is not None  # check() guarantees both files
                out.append((_read_file(path, self.max_bytes), f"CRIC {preset} file {path}"))
            return out
        base = f"{self.url.rstrip('/')}{SITE_QUERY_PATH}"
        with self._client() as client:
            urls = [(f"{base}?json&preset={p}&rcsite_state=ANY", p) for p in presets]
            return [(self._fetch(client, url), f"CRIC {p} ({url})") for url, p in urls]

    def _fetch(self, client: httpx.Client, url: str) -> bytes:
        what = f"CRIC {url}"
        try:
            return retrying(lambda: _get_capped(client, url, self.max_bytes, what),
                            Backoff(self.retries, self.retry_backoff_s), _triage, what=what, log=log)
        except RetriesExhausted as exc:
            raise CricError(f"{what}: {exc.last} (after {exc.attempts} attempts)") from None

    def _client(self) -> httpx.Client:
        headers = {"Accept": "application/json"}
        if self.token_file is not None:
            headers["Authorization"] = f"Bearer {_read_token(self.token_file)}"
        return httpx.Client(timeout=self.timeout_s, verify=_tls(self.ca, self.cert, self.key), headers=headers)


class _Retryable(Exception):
    """A connection failure, timeout or 5xx: worth another attempt."""


def _triage(exc: Exception) -> str:
    if isinstance(exc, _Retryable):
        return str(exc)
    raise exc


def _get_capped(client: httpx.Client, url: str, max_bytes: int, what: str) -> bytes:
    try:
        with client.stream("GET", url) as resp:
            if resp.status_code >= 500:
                raise _Retryable(f"HTTP {resp.status_code}")
            if resp.status_code != httpx.codes.OK:
                resp.read()
                raise CricError(f"{what}: HTTP {resp.status_code}: {resp.text[:200]!r}")
            declared = resp.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise CricError(f"{what}: answer of {declared} bytes, more than the {max_bytes} accepted"
                                " (sites.cric_max_bytes)")
            body = bytearray()
            for chunk in resp.iter_bytes(_CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise CricError(f"{what}: answer longer than the {max_bytes} bytes accepted (sites.cric_max_bytes)")
            return bytes(body)
    except httpx.TransportError as exc:
        raise _Retryable(f"{type(exc).__name__}: {exc}") from None


def _read_file(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise CricError(f"CRIC file {path}: {size} bytes, more than the {max_bytes} accepted"
                            " (sites.cric_max_bytes)")
        return path.read_bytes()
    except OSError as exc:
        raise CricError(f"CRIC file {path}: {exc.strerror or exc}") from None


def _read_token(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise CricError(f"sites.cric_token_file {path}: {exc.strerror or exc}") from None
    if not token or any(c.isspace() or not c.isprintable() for c in token):
        raise CricError(f"sites.cric_token_file {path}: empty, or not a single-line token")
    return token


def _tls(ca: Path | None, cert: Path | None, key: Path | None) -> ssl.SSLContext:
    """Server verification (system CAs, or a CA file or directory) and the X.509 client certificate."""
    if ca is None:
        ctx = ssl.create_default_context()
    elif ca.is_dir():  # e.g. /etc/grid-security/certificates
        ctx = ssl.create_default_context(capath=str(ca))
    elif ca.is_file():
        ctx = ssl.create_default_context(cafile=str(ca))
    else:
        raise CricError(f"sites.cric_ca: {ca} is neither a file nor a directory")
    if cert is not None:
        try:  # a proxy holds certificate and key in one file (key None)
            ctx.load_cert_chain(str(cert), str(key) if key else None)
        except (OSError, ssl.SSLError) as exc:
            raise CricError(f"sites.cric_cert/cric_key: cannot load {cert}"
                            f"{f' with key {key}' if key else ''}: {exc}") from None
    return ctx


def read_topology(source: CricSource) -> CricTopology:
    """Both tables, parsed and joined."""
    (raw, label), (raw2, label2) = source.read((PRESET_SITE_NAMES, PRESET_DATA_PROCESSING))
    names = parse_site_names(decode_json(raw, label, source.max_bytes), label, source.max_rows)
    links = parse_data_processing(decode_json(raw2, label2, source.max_bytes), label2, source.max_rows)
    where = source.url or f"files {source.site_names_file}, {source.data_processing_file}"
    return build_topology(names, links, f"CRIC {where}")


# -- one read per process and refresh period -----------------------------------------------------------
_cache: dict[CricSource, tuple[float, CricTopology]] = {}
_cache_lock = threading.Lock()


def load_topology(settings: Settings, fresh: bool = False) -> CricTopology:
    """The tables for ``settings.sites``, read at most once per ``cric_refresh_s`` in this process
    (``fresh``: read now, e.g. for an operator's site sync)."""
    source = CricSource.from_settings(settings.sites)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(source)
        if not fresh and hit is not None and now - hit[0] < settings.sites.cric_refresh_s:
            return hit[1]
        topology = read_topology(source)
        _cache[source] = (now, topology)
        return topology


def forget_topologies() -> None:
    """Drop every cached table (tests, and an operator's explicit site sync)."""
    with _cache_lock:
        _cache.clear()


# -- the site catalog ----------------------------------------------------------------------------------
class CricCatalog:
    """:class:`~wms2.services.sites.SiteCatalog` on CRIC's tables."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        CricSource.from_settings(settings.sites)  # a bad configuration fails here, naming the field

    @classmethod
    def from_settings(cls, settings: Settings) -> CricCatalog:
        return cls(settings)

    def topology(self) -> CricTopology:
        return load_topology(self._settings)

    def list_sites(self) -> list[SiteInfo]:
        """Every processing site, read afresh (this is the operator's site sync); CRIC knows no state or
        slots (those are the Site Status Board's)."""
        topo = load_topology(self._settings, fresh=True)
        out: list[SiteInfo] = []
        for s in topo.sites.values():
            rse = topo.output_rse(s.name)  # first, so that it is the site's storage element
            storage = (rse, *(p for p in s.storage if p != rse)) if rse else s.storage
            out.append(SiteInfo(name=s.name, tier=s.tier, status=None, slots=None, facility=s.facility,
                                storage=storage))
        return out

    def close(self) -> None:
        """Nothing held open: each read opens and closes its own HTTP client."""


# -- the mapping where it matters ----------------------------------------------------------------------
class SiteListError(ValueError):
    """A whitelist or blacklist names something that is not a processing site in CRIC."""


@dataclass(frozen=True)
class SiteLists:
    """The ``GLIDEIN_CMSSite`` values to require (``allowed``; empty = anywhere) and to exclude."""

    allowed: tuple[str, ...]
    denied: tuple[str, ...]


def check_site_lists(topo: CricTopology, whitelist: Sequence[str], blacklist: Sequence[str]) -> SiteLists:
    """Whitelisted names must be PSNs (a slot's ``GLIDEIN_CMSSite`` is its PSN), else no slot would ever
    match.  A storage node name in either list is refused with the sites that read it; an unknown
    blacklisted name excludes nothing and is kept (with a warning)."""
    for field_name, names in (("site_whitelist", whitelist), ("site_blacklist", blacklist)):
        for name in names:
            if name in topo.sites:
                continue
            if name in topo.nodes or name in topo.readers:
                readers = ", ".join(topo.psns_reading(name)) or "none"
                raise SiteListError(f"{field_name}: {name} is a storage node (PNN) in {topo.source}, not a"
                                    f" processing site; the processing sites reading it: {readers}")
            if field_name == "site_whitelist":
                raise SiteListError(f"{field_name}: {name} is not a processing site (PSN) in {topo.source};"
                                    " no slot would ever match it")
            log.warning("site_blacklist: %s is not a processing site in %s; it excludes nothing", name, topo.source)
    return SiteLists(tuple(dict.fromkeys(whitelist)), tuple(dict.fromkeys(blacklist)))


def check_request_sites(settings: Settings, whitelist: Sequence[str], blacklist: Sequence[str]) -> SiteLists:
    """:func:`check_site_lists` against the configured CRIC.  If CRIC cannot be read, the names (already
    syntactically valid) are used as they are and a warning says why: CRIC is advice, not a gate."""
    try:
        topo = load_topology(settings)
    except CricError as exc:
        log.warning("site lists not checked against CRIC: %s", exc)
        return SiteLists(tuple(dict.fromkeys(whitelist)), tuple(dict.fromkeys(blacklist)))
    return check_site_lists(topo, whitelist, blacklist)


def cric_output_rses(settings: Settings) -> dict[str, str]:
    """PSN -> the disk RSE where its jobs write (only sites CRIC resolves)."""
    return load_topology(settings).output_rses()


class CricRseReaders(Mapping[str, tuple[str, ...]]):
    """RSE (PNN) -> the processing sites that may read it (data-processing); read on first use.  If
    CRIC cannot be read the map is empty (callers fall back to the CMS naming convention) and a warning
    says why."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._map: dict[str, tuple[str, ...]] | None = None

    def _load(self) -> dict[str, tuple[str, ...]]:
        if self._map is None:
            try:
                self._map = dict(load_topology(self._settings).readers)
            except CricError as exc:
                log.warning("RSE -> sites: CRIC unreadable, using the CMS naming convention: %s", exc)
                self._map = {}
        return self._map

    def __getitem__(self, key: str) -> tuple[str, ...]:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())
