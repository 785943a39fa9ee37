"""drop single-column org_id indexes that a composite key already leads with

Every tenant table had an index on org_id alone beside a unique key or index that starts with
org_id. The database can use the composite one for anything the single one served (lookups
by org, the foreign key's checks on deleting an org), and each write paid for both: a payment
webhook, for one, inserts and updates rows in five such tables.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 08:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# api_tokens keeps its org_id index: no other key of that table starts with org_id.
TABLES = (
    "channel_configs",
    "events",
    "inbound_deliveries",
    "policy_versions",
    "sources",
    "users",
    "customers",
    "sync_cursors",
    "writebacks",
    "receivables",
    "reminders",
    "tasks",
)


def upgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_org_id", table_name=table)


def downgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_org_id", table, ["org_id"])
