"""Relational storage: tables, sessions, repository, migrations."""
