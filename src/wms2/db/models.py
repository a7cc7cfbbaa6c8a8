"""Imports every table module so that ``Base.metadata`` is complete (migrations, create_all)."""

from wms2.db import auth_tables, catalog_tables, tables  # noqa: F401
