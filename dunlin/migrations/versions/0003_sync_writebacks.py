"""sync reports, receivable owners, write-back ledger

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dunlin.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_report", sa.JSON(), nullable=True))
    with op.batch_alter_table("receivables", schema=None) as batch_op:
        batch_op.add_column(sa.Column("salesperson_ref", sa.String(length=128), nullable=True))
    op.create_table(
        "writebacks",
        sa.Column("id", _ID, nullable=False),
        sa.Column("org_id", _ID, nullable=False),
        sa.Column("source_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("local_ref", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("target_external_id", sa.String(length=128), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", dunlin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", dunlin.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"]),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "source_id", "kind", "local_ref"),
    )
    with op.batch_alter_table("writebacks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_writebacks_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("writebacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_writebacks_org_id"))
    op.drop_table("writebacks")
    with op.batch_alter_table("receivables", schema=None) as batch_op:
        batch_op.drop_column("salesperson_ref")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("last_report")
