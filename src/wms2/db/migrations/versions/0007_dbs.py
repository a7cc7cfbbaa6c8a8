"""dbs registration steps and the buffer of files of blocks not yet inserted into DBS

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import wms2.db.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dbs_steps",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=1000), nullable=False),
        sa.Column("result", sa.String(length=200), nullable=True),
        sa.Column("done_at", wms2.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_dbs_steps")),
    )
    op.create_index("ix_dbs_steps_kind_name", "dbs_steps", ["kind", "name"], unique=False)
    op.create_table(
        "dbs_buffer_files",
        sa.Column("lfn", sa.String(length=500), nullable=False),
        sa.Column("block", sa.String(length=600), nullable=False),
        sa.Column("dataset", sa.String(length=500), nullable=False),
        sa.Column("record", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                  nullable=False),
        sa.Column("created_at", wms2.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("lfn", name=op.f("pk_dbs_buffer_files")),
    )
    op.create_index("ix_dbs_buffer_files_block", "dbs_buffer_files", ["block"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_dbs_buffer_files_block", table_name="dbs_buffer_files")
    op.drop_table("dbs_buffer_files")
    op.drop_index("ix_dbs_steps_kind_name", table_name="dbs_steps")
    op.drop_table("dbs_steps")
