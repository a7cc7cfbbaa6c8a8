"""rucio registration steps (exactly-once bookkeeping of the Rucio output registration)

Revision ID: 0004
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import wms2.db.base

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rucio_steps",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=1000), nullable=False),
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("result", sa.String(length=200), nullable=True),
        sa.Column("done_at", wms2.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rucio_steps")),
    )
    op.create_index("ix_rucio_steps_kind_name", "rucio_steps", ["kind", "name"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rucio_steps_kind_name", table_name="rucio_steps")
    op.drop_table("rucio_steps")
