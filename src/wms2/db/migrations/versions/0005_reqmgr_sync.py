"""reqmgr2 live sync bookkeeping

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import wms2.db.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "reqmgr_sync",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_name", sa.String(length=200), nullable=False),
        sa.Column("team", sa.String(length=100), nullable=False),
        sa.Column("imported", sa.Boolean(), nullable=False),
        sa.Column("import_error", sa.Text(), nullable=True),
        sa.Column("reqmgr_status", sa.String(length=40), nullable=False),
        sa.Column("written_status", sa.String(length=40), nullable=True),
        sa.Column("applied", JSON, nullable=False),
        sa.Column("finished", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", wms2.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("history", JSON, nullable=False),
        sa.Column("created_at", wms2.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", wms2.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reqmgr_sync")),
        sa.UniqueConstraint("request_name", name=op.f("uq_reqmgr_sync_request_name")),
    )


def downgrade() -> None:
    op.drop_table("reqmgr_sync")
