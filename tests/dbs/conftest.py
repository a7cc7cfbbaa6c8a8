"""The real ``DbsApi`` against a local test server: a self-signed cert/key pair, an X509_CERT_DIR and USER
(what dbs3-client insists on even for http:// URLs), the server, a gateway and a database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy.orm import Session

import wms2.db.models  # noqa: F401
from tests.dbs.dbs_server import DbsTestServer, recorded_answers
from wms2.db.base import Base
from wms2.db.session import Database
from wms2.services.dbs_gateway import DbsConfig, DbsGateway


@dataclass(frozen=True)
class Credentials:
    cert: Path
    key: Path
    ca_dir: Path


@pytest.fixture(scope="session")
def x509_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Credentials]:
    """A throw-away self-signed certificate (any pair satisfies the client over plain http)."""
    home = tmp_path_factory.mktemp("x509")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wms2-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2)).sign(key, hashes.SHA256()))
    (home / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (home / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                     serialization.PrivateFormat.TraditionalOpenSSL,
                                                     serialization.NoEncryption()))
    (home / "certificates").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("USER", "wms2test")
        yield Credentials(home / "cert.pem", home / "key.pem", home / "certificates")


@pytest.fixture
def dbs_server() -> Iterator[DbsTestServer]:
    server = DbsTestServer(recorded_answers()).start()
    try:
        yield server
    finally:
        server.stop()


def gateway_for(server: DbsTestServer, creds: Credentials, retries: int = 2) -> DbsGateway:
    return DbsGateway(DbsConfig(url=server.reader_url, cert=str(creds.cert), key=str(creds.key),
                                ca_dir=str(creds.ca_dir), timeout_s=10, retries=retries, retry_backoff_s=0.0),
                      sleep=lambda _s: None)


@pytest.fixture
def gateway(dbs_server: DbsTestServer, x509_pair: Credentials) -> DbsGateway:
    return gateway_for(dbs_server, x509_pair)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    database = Database(f"sqlite:///{tmp_path / 'wms2.db'}")
    Base.metadata.create_all(database.engine)
    with Session(database.engine) as s:
        yield s
    database.dispose()
