"""Hardening tests reuse the API and CLI fixtures (an app on SQLite and PostgreSQL; a CLI home)."""

from tests.api.conftest import api, api_settings  # noqa: F401
from tests.cli.conftest import cli_db, cli_settings, engine  # noqa: F401
