"""The migrations and the models agree, on SQLite and on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect

from wms2.db.base import Base
from wms2.db.migrate import current_revision, head_revision, schema_differences, upgrade
from wms2.db.session import Database


def test_upgrade_matches_models(db_url: str) -> None:
    database = Database(db_url)
    try:
        Base.metadata.drop_all(database.engine)
        with database.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade(database.engine)
        assert current_revision(database.engine) == head_revision()
        assert schema_differences(database.engine) == []
        assert set(Base.metadata.tables) <= set(inspect(database.engine).get_table_names())
        upgrade(database.engine)  # idempotent
    finally:
        Base.metadata.drop_all(database.engine)
        with database.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        database.dispose()


def test_sqlite_pragmas(tmp_path) -> None:  # type: ignore[no-untyped-def]
    database = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    database.dispose()
