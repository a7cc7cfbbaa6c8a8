"""validations (physics validation jobs of wms2 serve)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import wms2.db.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "validations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("new", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", wms2.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", wms2.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", wms2.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=True),
        sa.Column("report_path", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_validations")),
    )
    op.create_index("ix_validations_ref", "validations", ["ref"], unique=False)
    op.create_index("ix_validations_new", "validations", ["new"], unique=False)
    op.create_index("ix_validations_status", "validations", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_validations_status", table_name="validations")
    op.drop_index("ix_validations_new", table_name="validations")
    op.drop_index("ix_validations_ref", table_name="validations")
    op.drop_table("validations")
