"""``[catalog] backend = "cms"``: DBS is the file catalog when ``dbs_url`` is set, else the embedded one."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.dbs.conftest import Credentials
from tests.dbs.dbs_server import DbsTestServer
from wms2.config import Settings
from wms2.services.dbs_reader import DbsDataCatalog
from wms2.services.dbs_writer import DbsCatalogWriter
from wms2.services.local_catalog import LocalCatalog
from wms2.services.outputs import LocalCatalogWriter
from wms2.services.rucio_catalog import CmsBackend


def _settings(settings: Settings, **catalog: object) -> Settings:
    return settings.model_copy(update={"catalog": settings.catalog.model_copy(
        update={"backend": "cms", "rucio_url": "http://127.0.0.1:1", **catalog})})


def test_dbs_url_makes_dbs_the_file_catalog(settings: Settings, session: Session, dbs_server: DbsTestServer,
                                            x509_pair: Credentials) -> None:
    s = _settings(settings, dbs_url=dbs_server.reader_url, dbs_cert=x509_pair.cert, dbs_key=x509_pair.key,
                  dbs_ca_dir=x509_pair.ca_dir)
    backend = CmsBackend.from_settings(s)
    catalog = backend.catalog(session)
    assert isinstance(catalog.files_catalog, DbsDataCatalog)
    assert catalog.dataset_exists("/ZeroBias/Run2024C-PromptReco-v1/AOD")  # read through the real DbsApi
    assert isinstance(backend.writer(session).files, DbsCatalogWriter)
    assert backend.dbs is not None and backend.dbs.gateway.config.writer == dbs_server.writer_url


def test_without_dbs_url_the_embedded_catalog_stays(settings: Settings, session: Session) -> None:
    backend = CmsBackend.from_settings(_settings(settings))
    assert backend.dbs is None
    assert isinstance(backend.catalog(session).files_catalog, LocalCatalog)
    assert isinstance(backend.writer(session).files, LocalCatalogWriter)
