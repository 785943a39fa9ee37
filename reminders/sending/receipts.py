"""Delivery receipts into the ledger: what providers (and customers' clicks) report after a
message left.

Receipts arrive late, twice and out of order, so a row only ever moves forward
(sent → delivered → read → clicked → replied); `failed` is accepted only before delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from dunlin.db import utcnow
from reminders.core import statuses as s
from reminders.core.statuses import ACCEPTS_FAILURE, PROGRESS
from reminders.ledger import record_transitions
from reminders.models import Reminder

# `uncertain` rows (outcome unknown) are resolved by a receipt: the message did leave.


@dataclass(frozen=True)
class Receipt:
    message_id: str  # the provider's id, or our idempotency key where the provider echoes it
    status: str  # one of PROGRESS[1:] or FAILED
    detail: str = ""


def advance(current: str, reported: str) -> str | None:
    """The row's new status, or None when the receipt changes nothing (stale or repeated)."""
    if reported == s.FAILED:
        return s.FAILED if current in ACCEPTS_FAILURE else None
    if reported not in PROGRESS:
        return None
    if current == s.UNCERTAIN:
        return reported
    if current not in PROGRESS:
        return None
    return reported if PROGRESS.index(reported) > PROGRESS.index(current) else None


def apply_receipts(
    session: Session,
    org_id: int,
    channel: str,
    receipts: Sequence[Receipt],
    now: datetime | None = None,
) -> int:
    """Apply a batch; returns how many rows moved. Unknown message ids are ignored (another
    org's, or a message from before Dunlin)."""
    ids = {r.message_id for r in receipts if r.message_id}
    if not ids:
        return 0
    rows = session.scalars(
        select(Reminder)
        .where(
            Reminder.org_id == org_id,
            Reminder.channel == channel,
            or_(Reminder.provider_message_id.in_(ids), Reminder.idempotency_key.in_(ids)),
        )
        .with_for_update()
    ).all()
    by_id = {}
    for found in rows:
        by_id[found.provider_message_id] = found
        by_id[found.idempotency_key] = found
    now = now or utcnow()
    changes = []
    for receipt in receipts:
        row = by_id.get(receipt.message_id)
        if row is None:
            continue
        status = advance(row.status, receipt.status)
        if status is None:
            continue
        row.status, row.updated_at = status, now
        if status == s.FAILED:
            row.error = receipt.detail[:1000] or "failed (receipt)"
        elif row.delivered_at is None:
            row.delivered_at = now
        changes.append((row.id, status, receipt.detail[:200]))
    record_transitions(session, org_id, changes)
    return len(changes)
