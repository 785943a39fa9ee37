"""A source says an invoice was paid (fully or in part): record it and stop its reminders, in
one transaction, before the webhook answers (ARCHITECTURE invariant 2).

Lock order matches the dispatcher's claim — reminders first, then receivables — so a worker
either claimed its rows before us (that message is already leaving, and we say so) or finds
them cancelled when our transaction commits. The first statement is a write, so SQLite takes
its write lock at once instead of upgrading a stale read snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dunlin.db import utcnow
from dunlin.events import record_event
from mappings import current_mapping, resolve
from mappings.transform import RecordTransformer
from reminders.cancel import cancel_for_settled
from reminders.models import Reminder
from sync.models import Receivable

SETTLED = ("paid", "cancelled", "written_off")


class NoticeError(ValueError):
    """The payload cannot be read as a payment notice (names the field)."""


@dataclass(frozen=True)
class PaymentNotice:
    external_id: str
    amount_open: Decimal | None
    status: str | None


@dataclass(frozen=True)
class PaymentResult:
    found: bool
    receivable_id: int | None = None
    status: str | None = None
    amount_open: Decimal | None = None
    cancelled: int = 0
    in_flight: int = 0  # reminders already being sent when the notice arrived


def read_notice(reader: RecordTransformer, record: dict[str, Any]) -> PaymentNotice:
    """Read external id, open amount and status through the source's mapping. Fields the
    notice does not carry (a webhook sends a chosen few) are not errors."""
    out, errors = reader.transform(record)
    external_id = out.get("external_id")
    if external_id in (None, ""):
        raise NoticeError("external_id: the payload does not name the invoice")
    bad = [e for e in errors if e.field in ("amount_open", "status") and e.column in record]
    if bad:
        raise NoticeError(f"{bad[0].field}: {bad[0].message}")
    amount = out.get("amount_open")
    status = out.get("status")
    if amount is None and status is None:
        raise NoticeError("amount_open: the payload carries neither an open amount nor a status")
    return PaymentNotice(str(external_id), amount, status)


def notice_reader(mapping_name: str) -> RecordTransformer:
    """The mapping's receivable reader, compiled once per version of the mapping file (a
    webhook must not parse YAML on every request)."""
    path = resolve(mapping_name)
    return _reader(str(path.resolve()), path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _reader(path: str, _mtime_ns: int) -> RecordTransformer:
    return RecordTransformer(current_mapping(path), "receivables")


def apply_payment(
    session: Session, org_id: int, source_id: int, notice: PaymentNotice, actor: str
) -> PaymentResult:
    receivable_id = (
        select(Receivable.id)
        .where(
            Receivable.org_id == org_id,
            Receivable.source_id == source_id,
            Receivable.external_id == notice.external_id,
        )
        .scalar_subquery()
    )
    # The lock: a no-op write on the reminders that could still be claimed.
    now = utcnow()
    session.execute(
        update(Reminder)
        .where(
            Reminder.org_id == org_id,
            Reminder.target_receivable_id == receivable_id,
            Reminder.status.in_(("planned", "queued")),
        )
        .values(updated_at=now)
    )
    receivable = session.scalar(
        select(Receivable).where(Receivable.id == receivable_id).with_for_update()
    )
    if receivable is None:
        record_event(
            session,
            org_id,
            "payment.unknown_invoice",
            f"payment notice for {notice.external_id}, not synced yet",
            actor=actor,
            data={"external_id": notice.external_id, "source_id": source_id},
        )
        return PaymentResult(found=False)
    before = (receivable.status, receivable.amount_open)
    status, amount = _settle(receivable.status, receivable.amount_open, notice)
    receivable.status, receivable.amount_open, receivable.updated_at = status, amount, now
    cancelled = 0
    if status != "open":
        session.flush()
        cancelled = cancel_for_settled(session, org_id, source_id, [notice.external_id])
    in_flight = session.scalar(
        select(func.count()).where(
            Reminder.org_id == org_id,
            Reminder.target_receivable_id == receivable.id,
            Reminder.status == "sending",
        )
    )
    record_event(
        session,
        org_id,
        "payment.received" if status in SETTLED else "payment.partial",
        f"{receivable.number}: {before[0]} {before[1]} → {status} {amount}",
        subject=("receivable", receivable.id),
        actor=actor,
        data={"status": status, "amount_open": str(amount), "cancelled": cancelled},
    )
    return PaymentResult(True, receivable.id, status, amount, cancelled, int(in_flight or 0))


def _settle(status: str, amount_open: Decimal, notice: PaymentNotice) -> tuple[str, Decimal]:
    """The receivable after the notice. Zero open means paid whatever the status says; a
    dispute recorded in Dunlin survives a notice that still says open."""
    amount = amount_open if notice.amount_open is None else notice.amount_open
    new_status = notice.status or ("paid" if amount <= 0 else "open")
    if new_status == "open" and amount <= 0:
        new_status = "paid"
    if new_status == "open" and status == "disputed":
        new_status = "disputed"
    if new_status == "paid" and notice.amount_open is None:
        amount = Decimal(0)
    return new_status, amount
