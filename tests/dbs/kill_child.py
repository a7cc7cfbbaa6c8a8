"""A WMS2 process that registers a block's files, commits, then closes (inserts) the block and commits.

Run by ``test_kill_resume.py`` with ``WMS2_FAULT_KILL_AFTER=bulkblock``: it is SIGKILLed right after DBS
accepted the block and before the step is committed."""

from __future__ import annotations

import sys

from sqlalchemy.orm import Session

import wms2.db.models  # noqa: F401
from tests.dbs.payloads import BLOCK, DATASET, fixed_meta, output_files
from wms2.db.session import Database
from wms2.services.dbs_gateway import DbsConfig, DbsGateway
from wms2.services.dbs_writer import DbsCatalogWriter


def main(db_url: str, reader_url: str, cert: str, key: str, ca_dir: str) -> None:
    database = Database(db_url)
    gateway = DbsGateway(DbsConfig(url=reader_url, cert=cert, key=key, ca_dir=ca_dir, timeout_s=10, retries=0))
    with Session(database.engine) as session:
        writer = DbsCatalogWriter(session, gateway, fixed_meta)
        writer.register_files(DATASET, BLOCK, output_files(3))
        session.commit()
        writer.close_block(BLOCK)
        session.commit()


if __name__ == "__main__":
    main(*sys.argv[1:6])
