"""Input locality from Rucio, and the ``cms`` catalog backend assembled from the settings.

:class:`RucioReplicaCatalog` answers "which sites hold each file" from ``list_replicas`` (available
replicas only), telling disk from tape by the RSEs' ``rse_type`` attribute, and asks for a staging rule
when an input is only on tape.  :class:`CmsCatalog` is what planning receives for ``backend = "cms"``:
files from the file catalog (the embedded one standing in for DBS here), replicas from Rucio.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from wms2.config import Settings
from wms2.services.catalog import CatalogFile, DataCatalog, FileSelection, Replica
from wms2.services.dbs_backend import DbsBackend
from wms2.services.local_catalog import LocalCatalog
from wms2.services.outputs import CatalogWriter, LocalCatalogWriter, OutputFile
from wms2.services.rucio_gateway import RucioConfig, RucioGateway
from wms2.services.rucio_names import rse_site, site_rse
from wms2.services.rucio_outputs import RucioCatalogWriter, RucioRuleService, RuleOptions
from wms2.services.rucio_steps import Step, StepLog, fault_point

log = logging.getLogger(__name__)
LIST_CHUNK = 500
STAGING_ACTIVITY = "Staging"  # Rucio's activity for tape recalls
STAGING_LIFETIME_S = 30 * 86400  # a recalled copy is kept a month (long enough for every round)
ANY_DISK = "rse_type=DISK&cms_type=real"


class RucioReplicaCatalog:
    """:class:`~wms2.services.catalog.ReplicaCatalog` on Rucio."""

    def __init__(self, gateway: RucioGateway, site_rses: Mapping[str, str] | None = None,
                 rse_sites: Mapping[str, Sequence[str]] | None = None) -> None:
        self.gw = gateway
        self.scope = gateway.scope
        self.site_rses: Mapping[str, str] = site_rses if site_rses is not None else {}
        # RSE -> the processing sites that read it (CRIC data-processing); absent = the naming convention
        self.rse_sites: Mapping[str, Sequence[str]] = rse_sites if rse_sites is not None else {}
        self._tape: frozenset[str] | None = None

    def tape_rses(self) -> frozenset[str]:
        if self._tape is None:
            rows = self.gw.call("list_rses", "rse_type=TAPE", lambda c: list(c.list_rses("rse_type=TAPE")))
            self._tape = frozenset(r["rse"] for r in rows)
        return self._tape

    def replicas(self, lfns: Sequence[str]) -> dict[str, list[Replica]]:
        result: dict[str, list[Replica]] = {lfn: [] for lfn in lfns}
        wanted = list(result)
        tape = self.tape_rses() if wanted else frozenset()
        for start in range(0, len(wanted), LIST_CHUNK):
            chunk = wanted[start:start + LIST_CHUNK]
            dids = [{"scope": self.scope, "name": n} for n in chunk]
            rows = self.gw.call("list_replicas", f"{self.scope}:{chunk[0]} (+{len(chunk) - 1})",
                                lambda c, d=dids: list(c.list_replicas(d)))
            for row in rows:
                if row.get("name") not in result:
                    continue
                for rse in sorted(row.get("rses") or {}):
                    sites = self.rse_sites.get(rse) or (rse_site(rse, self.site_rses),)
                    result[row["name"]].extend(Replica(site, rse in tape) for site in sites)
        for lfn, reps in result.items():  # one entry per (site, tape): two RSEs may be read by one site
            result[lfn] = sorted(set(reps), key=lambda r: (r.is_tape, r.site))
        return result

    def request_staging(self, session: Session, blocks: Sequence[str], sites: Sequence[str], comment: str) -> list[str]:
        """One staging rule per block (tape -> the disk of one of ``sites``, else any real disk RSE).
        Idempotent like the output rules: an existing rule of ours on the block is reused."""
        expression = "|".join(sorted(site_rse(s, self.site_rses) for s in sites)) or ANY_DISK
        steps = StepLog(session)
        rules = RucioRuleService(session, self.gw)
        ids: list[str] = []
        for block in sorted(set(blocks)):
            step = Step("rule", self.scope, block, expression)
            known = steps.result(step)
            if known:
                ids.append(known)
                continue
            rule_id = rules._find_rule(block, expression)
            if rule_id is None:
                rule_id = str(self.gw.call("add_replication_rule", f"{self.scope}:{block} -> {expression}",
                                           lambda c, b=block: c.add_replication_rule(
                                               dids=[{"scope": self.scope, "name": b}], copies=1,
                                               rse_expression=expression, grouping="DATASET",
                                               lifetime=STAGING_LIFETIME_S, activity=STAGING_ACTIVITY,
                                               comment=comment[:250]))[0])
            fault_point("rule")
            steps.mark([step], result=rule_id)
            ids.append(rule_id)
        return ids


@dataclass
class CmsCatalog:
    """Files from the file catalog, replicas from Rucio (what planning uses for ``backend = "cms"``)."""

    session: Session
    files_catalog: DataCatalog  # DBS when catalog.dbs_url is set, else the embedded catalog
    replica_catalog: RucioReplicaCatalog

    def dataset_exists(self, dataset: str) -> bool:
        return self.files_catalog.dataset_exists(dataset)

    def files(self, dataset: str, selection: FileSelection | None = None) -> list[CatalogFile]:
        return self.files_catalog.files(dataset, selection)

    def replicas(self, lfns: Sequence[str]) -> dict[str, list[Replica]]:
        return self.replica_catalog.replicas(lfns)

    def request_staging(self, blocks: Sequence[str], sites: Sequence[str], comment: str) -> list[str]:
        return self.replica_catalog.request_staging(self.session, blocks, sites, comment)


class BothCatalogWriter:
    """The file catalog (embedded, standing in for DBS: later requests read outputs from it) and Rucio."""

    def __init__(self, files: CatalogWriter, rucio: RucioCatalogWriter) -> None:
        self.files, self.rucio = files, rucio

    def open_block(self, dataset: str, block: str) -> None:
        self.files.open_block(dataset, block)
        self.rucio.open_block(dataset, block)

    def register_files(self, dataset: str, block: str, files: Sequence[OutputFile]) -> int:
        added = self.files.register_files(dataset, block, files)
        self.rucio.register_files(dataset, block, files)
        return added

    def close_block(self, block: str) -> None:
        self.files.close_block(block)
        self.rucio.close_block(block)

    def invalidate_block(self, block: str) -> int:
        return self.files.invalidate_block(block) + self.rucio.invalidate_block(block)


# -- assembly from the settings ----------------------------------------------------------------
def rucio_config(settings: Settings) -> RucioConfig:
    c = settings.catalog
    if not c.rucio_url:
        raise ValueError("catalog.rucio_url is not set (required by catalog.backend = \"cms\")")
    password = None
    if c.rucio_password_file is not None:
        try:
            password = c.rucio_password_file.read_text().strip()
        except OSError as exc:
            raise ValueError(f"catalog.rucio_password_file: {exc}") from exc
    return RucioConfig(
        url=c.rucio_url, auth_url=c.rucio_auth_url, account=c.rucio_account, auth_type=c.rucio_auth_type,
        username=c.rucio_username, password=password, cert=str(c.rucio_cert) if c.rucio_cert else None,
        key=str(c.rucio_key) if c.rucio_key else None, ca_cert=str(c.rucio_ca) if c.rucio_ca else None,
        client_config=str(c.rucio_client_config) if c.rucio_client_config else None, scope=c.rucio_scope,
        timeout_s=c.rucio_timeout_s, retries=c.rucio_retries, retry_backoff_s=c.rucio_retry_backoff_s)


class SiteRses(Mapping[str, str]):
    """Site -> output RSE: ``[catalog] site_rses``, over CRIC's data-processing links when
    ``[sites] backend = "cric"`` (read once, on first use; if CRIC cannot
    be read the CMS naming convention applies and a warning says why)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._map: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._map is None:
            found: dict[str, str] = {}
            if self._settings.sites.backend == "cric":
                from wms2.services.cric import cric_output_rses
                from wms2.services.cric_model import CricError

                try:
                    found = cric_output_rses(self._settings)
                except CricError as exc:
                    log.warning("site -> RSE map: CRIC unreadable, using the CMS naming convention: %s", exc)
            self._map = {**found, **self._settings.catalog.site_rses}
        return self._map

    def __getitem__(self, key: str) -> str:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def rule_options(settings: Settings) -> RuleOptions:
    c = settings.catalog
    return RuleOptions(activity=c.rule_activity, consolidation_activity=c.consolidation_activity,
                       source_lifetime_s=c.source_rule_lifetime_s, priority=c.rule_priority,
                       site_rses=SiteRses(settings))


@dataclass
class CmsBackend:
    """Factories (``session -> service``) for the ``cms`` backend, sharing one Rucio gateway."""

    gateway: RucioGateway
    options: RuleOptions
    rse_sites: Mapping[str, Sequence[str]] | None = None  # CRIC's readers of each RSE ([sites] backend = "cric")
    dbs: DbsBackend | None = None  # the file catalog when catalog.dbs_url is set (else the embedded one)

    @classmethod
    def from_settings(cls, settings: Settings) -> CmsBackend:
        readers: Mapping[str, Sequence[str]] | None = None
        if settings.sites.backend == "cric":
            from wms2.services.cric import CricRseReaders

            readers = CricRseReaders(settings)
        return cls(RucioGateway(rucio_config(settings)), rule_options(settings), readers,
                   DbsBackend.from_settings(settings) if settings.catalog.dbs_url else None)

    def catalog(self, session: Session) -> CmsCatalog:
        return CmsCatalog(session, self.dbs.catalog() if self.dbs else LocalCatalog(session),
                          RucioReplicaCatalog(self.gateway, self.options.site_rses, self.rse_sites))

    def writer(self, session: Session) -> BothCatalogWriter:
        files = self.dbs.writer(session) if self.dbs else LocalCatalogWriter(session)
        return BothCatalogWriter(files, RucioCatalogWriter(session, self.gateway, self.options))

    def rules(self, session: Session) -> RucioRuleService:
        return RucioRuleService(session, self.gateway, self.options)

    def factories(self) -> tuple[Callable[[Session], CmsCatalog], Callable[[Session], BothCatalogWriter],
                                 Callable[[Session], RucioRuleService]]:
        return self.catalog, self.writer, self.rules
