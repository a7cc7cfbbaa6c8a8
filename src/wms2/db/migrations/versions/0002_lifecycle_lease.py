"""lifecycle lease (one lifecycle owner among many processes)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import wms2.db.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lifecycle_lease",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("node_key", sa.String(length=120), nullable=False),
        sa.Column("command", sa.String(length=40), nullable=False),
        sa.Column("acquired_at", wms2.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", wms2.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", wms2.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released_at", wms2.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_lease")),
    )


def downgrade() -> None:
    op.drop_table("lifecycle_lease")
