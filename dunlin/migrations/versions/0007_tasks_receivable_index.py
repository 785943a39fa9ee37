"""index tasks by receivable

The planner's first pass asks, for each group's pace-setting receivable, which steps were
already done — in the ledger and in task-only steps. The ledger was indexed by target; tasks
were not, so the question was answered by scanning every task of the org.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 04:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_receivable_id", "tasks", ["receivable_id"])


def downgrade() -> None:
    op.drop_index("ix_tasks_receivable_id", table_name="tasks")
