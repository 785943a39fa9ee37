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

from sqlalchemy import BigInteger, Boolean, String, bindparam, func, insert, literal, select, update
from sqlalchemy.engine import Connection

from dunlin.db import utcnow
from dunlin.events import event_row
from dunlin.models import Event
from mappings import current_mapping, resolve
from mappings.transform import RecordTransformer
from reminders.cancel import CANCEL_FOR_RECEIVABLE, CANCEL_REASON
from reminders.dispatch import TRANSITION_ACTOR, transition_row
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


# The webhook's statements, built once: each request only binds values (SQLAlchemy reuses the
# compiled SQL; rebuilding the expressions cost more than running them on SQLite).
_TARGET = (
    select(Receivable.id)
    .where(
        Receivable.org_id == bindparam("org"),
        Receivable.source_id == bindparam("source"),
        Receivable.external_id == bindparam("external_id"),
    )
    .correlate(None)  # its own lookup, also inside the SELECT of receivables below
    .scalar_subquery()
)
# The lock: a no-op write on the reminders that could still be claimed.
_LOCK = (
    update(Reminder)
    .where(
        Reminder.org_id == bindparam("org"),
        Reminder.target_receivable_id == _TARGET,
        Reminder.status.in_(("planned", "queued")),
    )
    .values(updated_at=bindparam("now"))
)
_IN_FLIGHT = (
    select(func.count())
    .where(
        Reminder.org_id == bindparam("org"),
        Reminder.target_receivable_id == Receivable.id,
        Reminder.status == "sending",
    )
    .scalar_subquery()
)
_READ = (
    select(Receivable.id, Receivable.status, Receivable.amount_open, Receivable.number, _IN_FLIGHT)
    .where(Receivable.id == _TARGET)
    .with_for_update(of=Receivable.__table__)
)
_MARK = (
    update(Receivable)
    .where(Receivable.id == bindparam("receivable"))
    .values(
        status=bindparam("status"), amount_open=bindparam("amount"), updated_at=bindparam("now")
    )
)
_EVENTS = insert(Event)

# PostgreSQL: mark, cancel and every event in one statement (data-modifying CTEs), so a
# payment costs four round trips after the lock instead of seven. SQLite has no data-modifying
# CTEs and keeps the three statements below; both paths are tested against the same outcomes.
_EVENT_COLUMNS = ["org_id", "at", "kind", "actor", "subject_type", "subject_id", "summary", "data"]


def _events_from(*values: Any, rows: Any = None) -> Any:
    """INSERT INTO events … SELECT :org, :now, <kind, actor, subject, id, summary, data>
    [FROM rows]."""
    at = Event.__table__.c.at.type
    query = select(bindparam("org", type_=BigInteger), bindparam("now", type_=at), *values)
    return insert(Event).from_select(
        _EVENT_COLUMNS, query if rows is None else query.select_from(rows)
    )


_cancelled = CANCEL_FOR_RECEIVABLE.where(bindparam("cancel", type_=Boolean)).cte("cancelled")
_cancel_events = _events_from(
    literal("reminder.cancelled"),
    literal(TRANSITION_ACTOR),
    literal("reminder"),
    _cancelled.c.id,
    literal(CANCEL_REASON),
    func.json_build_object(),
    rows=_cancelled,
).cte("cancel_events")
_SETTLE_PG = (
    _events_from(
        bindparam("kind", type_=String),
        bindparam("actor", type_=String),
        literal("receivable"),
        bindparam("receivable", type_=BigInteger),
        bindparam("summary", type_=String),
        func.json_build_object(
            "status",
            bindparam("status", type_=String),
            "amount_open",
            bindparam("amount_text", type_=String),
            "cancelled",
            select(func.count()).select_from(_cancelled).scalar_subquery(),
        ),
    )
    .add_cte(_MARK.returning(Receivable.id).cte("marked"), _cancelled, _cancel_events)
    .returning(select(func.count()).select_from(_cancelled).scalar_subquery())
)


def apply_payment(
    conn: Connection, org_id: int, source_id: int, notice: PaymentNotice, actor: str
) -> PaymentResult:
    """Lock the claimable reminders, read the invoice (and how many of its reminders are being
    sent), then mark it, cancel, and record every event: one statement on PostgreSQL, three on
    SQLite."""
    now = utcnow()
    keys = {"org": org_id, "source": source_id, "external_id": notice.external_id, "now": now}
    conn.execute(_LOCK, keys)
    found = conn.execute(_READ, keys).first()
    if found is None:
        summary = f"payment notice for {notice.external_id}, not synced yet"
        data = {"external_id": notice.external_id, "source_id": source_id}
        unknown = event_row(
            org_id, "payment.unknown_invoice", summary, at=now, actor=actor, data=data
        )
        conn.execute(_EVENTS, [unknown])
        return PaymentResult(found=False)
    receivable_id, old_status, old_amount, number, in_flight = found
    in_flight = int(in_flight or 0)
    status, amount = _settle(old_status, old_amount, notice)
    marks = {"receivable": receivable_id, "status": status, "amount": amount, "now": now}
    kind = "payment.received" if status in SETTLED else "payment.partial"
    summary = f"{number}: {old_status} {old_amount} → {status} {amount}"
    if conn.dialect.name == "postgresql":
        settle = {**marks, "org": org_id, "cancel": status != "open", "kind": kind}
        settle |= {"actor": actor, "summary": summary[:500], "amount_text": str(amount)}
        cancelled_count = conn.execute(_SETTLE_PG, settle).scalar_one()
        return PaymentResult(True, receivable_id, status, amount, cancelled_count, in_flight)
    conn.execute(_MARK, marks)
    cancelled: list[int] = []
    if status != "open":
        where = {"org": org_id, "receivable": receivable_id, "now": now}
        cancelled = list(conn.execute(CANCEL_FOR_RECEIVABLE, where).scalars())
    events = [transition_row(org_id, now, i, "cancelled", CANCEL_REASON) for i in cancelled]
    events.append(
        event_row(
            org_id,
            kind,
            summary,
            at=now,
            actor=actor,
            subject=("receivable", receivable_id),
            data={"status": status, "amount_open": str(amount), "cancelled": len(cancelled)},
        )
    )
    conn.execute(_EVENTS, events)
    return PaymentResult(True, receivable_id, status, amount, len(cancelled), in_flight)


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
