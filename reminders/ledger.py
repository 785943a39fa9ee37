"""Stopping reminders the moment a receivable is settled: the one function sync calls."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from dunlin.db import utcnow
from reminders.core.policy import THANK_YOU_STEP
from reminders.models import Reminder
from reminders.sending.dispatch import record_transitions
from sync.models import Receivable

CANCEL_REASON = "receivable no longer open"
# What settling an invoice stops: rows not yet claimed by a worker, except a thank-you (which
# is for a settled invoice). `cancel_for_settled` and the payment webhook's prebuilt statement
# both use it.
# Written as OR rather than IN: an IN list is an "expanding" parameter that SQLAlchemy
# re-renders into the SQL on every execution; the payment webhook runs these per request.
NOT_CLAIMED = or_(Reminder.status == "planned", Reminder.status == "queued")
CANCELLABLE = (NOT_CLAIMED, Reminder.step != THANK_YOU_STEP)
CANCEL_FOR_RECEIVABLE = (
    update(Reminder)
    .where(
        Reminder.org_id == bindparam("org"),
        Reminder.target_receivable_id == bindparam("receivable"),
        *CANCELLABLE,
    )
    .values(status="cancelled", error=CANCEL_REASON, updated_at=bindparam("now"))
    .returning(Reminder.id)
)


def cancel_for_settled(
    session: Session,
    org_id: int,
    source_id: int | None = None,
    external_ids: list[str] | None = None,
    settled_ids: list[int] | None = None,
) -> int:
    """Planned or queued reminders whose pace-setting receivable is no longer open are cancelled;
    `external_ids` limits the check to the receivables just written (with `source_id`).
    `settled_ids`, when not None, are those receivables' settled ids as the caller already
    knows them (PostgreSQL's upsert returns them) and replace looking them up."""
    if settled_ids is not None:
        if not settled_ids:
            return 0
        settled: Any = settled_ids
    else:
        settled = select(Receivable.id).where(
            Receivable.org_id == org_id, Receivable.status != "open"
        )
        if source_id is not None:
            settled = settled.where(Receivable.source_id == source_id)
        if external_ids is not None:
            if not external_ids:
                return 0
            settled = settled.where(Receivable.external_id.in_(external_ids))
    cancelled = session.scalars(
        update(Reminder)
        .where(
            Reminder.org_id == org_id,
            Reminder.target_receivable_id.in_(settled),
            # queued too: a job still holding the id finds nothing left to claim
            *CANCELLABLE,
        )
        .values(status="cancelled", error=CANCEL_REASON, updated_at=utcnow())
        .returning(Reminder.id)
    ).all()
    record_transitions(session, org_id, [(i, "cancelled", CANCEL_REASON) for i in cancelled])
    return len(cancelled)
