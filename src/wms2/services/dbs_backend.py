"""DBS for the ``cms`` catalog backend, assembled from the ``[catalog]`` settings (``dbs_url`` set).

:class:`DbsBackend` hands out the reader (:class:`~wms2.services.dbs_reader.DbsDataCatalog`, the file
catalog of :class:`~wms2.services.rucio_catalog.CmsCatalog`) and, per session, the writer
(:class:`~wms2.services.dbs_writer.DbsCatalogWriter`), sharing one gateway (one ``DbsApi`` per URL).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from wms2.config import Settings
from wms2.services.dbs_gateway import DbsConfig, DbsGateway, local_user
from wms2.services.dbs_payload import BlockMeta, MetaDefaults, block_meta
from wms2.services.dbs_reader import DbsDataCatalog
from wms2.services.dbs_writer import DbsCatalogWriter


def dbs_config(settings: Settings) -> DbsConfig:
    c = settings.catalog
    if not c.dbs_url:
        raise ValueError("catalog.dbs_url is not set")
    return DbsConfig(url=c.dbs_url, writer_url=c.dbs_writer_url, cert=str(c.dbs_cert) if c.dbs_cert else None,
                     key=str(c.dbs_key) if c.dbs_key else None, ca_dir=str(c.dbs_ca_dir) if c.dbs_ca_dir else None,
                     timeout_s=c.dbs_timeout_s, retries=c.dbs_retries, retry_backoff_s=c.dbs_retry_backoff_s)


@dataclass
class DbsBackend:
    gateway: DbsGateway
    defaults: MetaDefaults

    @classmethod
    def from_settings(cls, settings: Settings) -> DbsBackend:
        c = settings.catalog
        return cls(DbsGateway(dbs_config(settings)),
                   MetaDefaults(access_type=c.dbs_dataset_access_type, physics_group=c.dbs_physics_group,
                                primary_ds_type=c.dbs_primary_ds_type, create_by=local_user()))

    def catalog(self) -> DbsDataCatalog:
        return DbsDataCatalog(self.gateway)

    def meta(self, session: Session, dataset: str) -> BlockMeta:
        return block_meta(session, dataset, self.defaults)

    def writer(self, session: Session) -> DbsCatalogWriter:
        return DbsCatalogWriter(session, self.gateway, self.meta)
