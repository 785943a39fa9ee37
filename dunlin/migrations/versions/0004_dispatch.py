"""dispatch: queue bookkeeping and fallbacks on reminders, channel configs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dunlin.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("job_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("queued_at", dunlin.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("delivered_at", dunlin.db.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("fallbacks", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.create_index("ix_reminders_provider_message_id", ["provider_message_id"])
    op.create_table(
        "channel_configs",
        sa.Column("id", _ID, nullable=False),
        sa.Column("org_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=True),
        sa.Column("broken_reason", sa.Text(), nullable=True),
        sa.Column("broken_at", dunlin.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", dunlin.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", dunlin.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "name"),
    )
    op.create_index("ix_channel_configs_org_id", "channel_configs", ["org_id"])


def downgrade() -> None:
    op.drop_index("ix_channel_configs_org_id", table_name="channel_configs")
    op.drop_table("channel_configs")
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_index("ix_reminders_provider_message_id")
        batch_op.drop_column("fallbacks")
        batch_op.drop_column("delivered_at")
        batch_op.drop_column("queued_at")
        batch_op.drop_column("job_id")
