"""Imports every table module so that ``Base.metadata`` is complete (migrations, create_all)."""

from wms2.db import (  # noqa: F401
    auth_tables,
    catalog_tables,
    dbs_tables,
    lease_tables,
    reqmgr_tables,
    rucio_tables,
    tables,
    validation_tables,
)
