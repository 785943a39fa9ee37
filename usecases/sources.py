"""Removing a source: what was synced from it and what Dunlin built on that (reminders, tasks)
goes in one transaction. It spans sync and reminders, so it lives above both."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from reminders.models import Reminder, Task
from sync.models import Customer, Receivable, Source, SyncCursor, Writeback


def remove_source(session: Session, source: Source) -> dict[str, int]:
    """Delete a source and everything synced from it (its customers' reminders and tasks too)."""
    customers = select(Customer.id).where(Customer.source_id == source.id)
    counts = {}
    for model, where in (
        (Writeback, Writeback.source_id == source.id),
        (Reminder, Reminder.customer_id.in_(customers)),
        (Task, Task.customer_id.in_(customers)),
        (SyncCursor, SyncCursor.source_id == source.id),
        (Receivable, Receivable.source_id == source.id),
        (Customer, Customer.source_id == source.id),
    ):
        # A DELETE's result is a CursorResult (Session.execute is typed for any statement).
        result = cast(CursorResult[Any], session.execute(delete(model).where(where)))
        counts[model.__tablename__] = result.rowcount or 0
    session.delete(source)
    return counts
