"""A source says an invoice was paid (fully or in part): record it and stop its reminders, in
one transaction, before the webhook answers (ARCHITECTURE invariant 2).

The invoice's unclaimed reminders are locked before the invoice is read, so a worker either
claimed its rows before us (that message is already leaving, and we say so) or finds them
cancelled when our transaction commits. On SQLite the first statement is a write, so it takes
its write lock at once instead of upgrading a stale read snapshot; PostgreSQL's row locks are
described in payment_sql.

State moves forward (ARCHITECTURE invariant 9): a notice carries the source's own timestamp
(`version`: the mapping's `source_updated_at`, e.g. Odoo's write_date, or a hook's
`occurred_at`); one older than the state the receivable holds (from a webhook or a sync) is
acknowledged and changes nothing, and a settled receivable is reopened only by a notice that
says so (`reopen`). `judge` is the rule; payment_sql writes the same rule in SQL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import Connection, Dialect, Engine

from dunlin.db import sqlite_writer_turn, utcnow
from dunlin.events import event_row
from dunlin.oneshot import AutocommitStatement
from mappings import current_mapping, resolve
from mappings.transform import RecordTransformer
from reminders.ledger import CANCEL_FOR_RECEIVABLE, cancelled_events
from sync.deliveries import delivery_row, first_delivery
from usecases import payment_sql as sql


class NoticeError(ValueError):
    """The payload cannot be read as a payment notice (names the field)."""


@dataclass(frozen=True)
class PaymentNotice:
    external_id: str
    amount_open: Decimal | None
    status: str | None
    version: datetime | None = None  # the source's time of this state; None: not given
    reopen: bool = False  # the sender says a settled invoice is owed again


# Outcomes of a notice on a known receivable. Anything but APPLIED changes nothing and is
# recorded as a `payment.ignored` event with the reason.
APPLIED = "applied"
STALE = "stale"  # older than the state the receivable holds
UNORDERED = "unordered"  # no version to order it by, and it would raise the open amount
REOPEN_REFUSED = "reopen_refused"  # would reopen a settled receivable without saying so
# Money is NUMERIC(20, 4): anything this large is a mistake, and would not fit.
MAX_AMOUNT = Decimal(10) ** 15


@dataclass(frozen=True)
class Settlement:
    """A receivable after a notice: what happened, and its status, open amount and version."""

    outcome: str
    status: str
    amount_open: Decimal
    version: datetime | None


@dataclass(frozen=True)
class PaymentResult:
    found: bool
    receivable_id: int | None = None
    status: str | None = None
    amount_open: Decimal | None = None
    cancelled: int = 0
    in_flight: int = 0  # reminders already being sent when the notice arrived
    duplicate: bool = False  # the delivery was seen before; nothing changed
    outcome: str = APPLIED  # see `judge`; anything else changed nothing


NOTICE_FIELDS = ("amount_open", "status", "source_updated_at")


def read_notice(
    reader: RecordTransformer,
    record: dict[str, Any],
    *,
    version: datetime | None = None,
    reopen: bool = False,
) -> PaymentNotice:
    """Read external id, open amount, status and the source's timestamp (`source_updated_at`)
    through the source's mapping; `version`, when the hook gives one of its own, wins over
    the record's. Fields the notice does not carry (a webhook sends a chosen few) are not
    errors; a negative, non-finite or absurd open amount is."""
    out, errors = reader.transform(record)
    external_id = out.get("external_id")
    if external_id in (None, ""):
        raise NoticeError("external_id: the payload does not name the invoice")
    bad = [e for e in errors if e.field in NOTICE_FIELDS and e.column in record]
    if bad:
        raise NoticeError(f"{bad[0].field}: {bad[0].message}")
    amount = out.get("amount_open")
    status = out.get("status")
    if amount is None and status is None:
        raise NoticeError("amount_open: the payload carries neither an open amount nor a status")
    if amount is not None:
        check_amount(amount)
    return PaymentNotice(
        str(external_id), amount, status, version or out.get("source_updated_at"), reopen
    )


def check_amount(amount: Decimal) -> None:
    """An open amount a notice may set: finite, not negative, and of a size money can have
    (a negative one used to mark the invoice paid with that amount still open)."""
    if not amount.is_finite():
        raise NoticeError(f"amount_open: {amount} is not a number / 未收金额不是数字")
    if amount < 0:
        raise NoticeError(f"amount_open: {amount} is negative / 未收金额不能为负")
    if amount >= MAX_AMOUNT:
        raise NoticeError(f"amount_open: {amount} is too large / 未收金额过大")


MAPPING_RECHECK_SECONDS = 2.0
_readers: dict[str, tuple[float, RecordTransformer]] = {}


def notice_reader(mapping_name: str) -> RecordTransformer:
    """The mapping's receivable reader, compiled once per version of the mapping file (a
    webhook must not parse YAML on every request), and the file itself looked at no more than
    every MAPPING_RECHECK_SECONDS (an edit takes effect within that time)."""
    now = time.monotonic()
    checked_at, reader = _readers.get(mapping_name, (-MAPPING_RECHECK_SECONDS, None))
    if reader is None or now - checked_at >= MAPPING_RECHECK_SECONDS:
        path = resolve(mapping_name)
        reader = _reader(str(path.resolve()), path.stat().st_mtime_ns)
        if len(_readers) >= 1000:  # one entry per mapping in use; never unbounded
            _readers.clear()
        _readers[mapping_name] = (now, reader)
    return reader


@lru_cache(maxsize=64)
def _reader(path: str, _mtime_ns: int) -> RecordTransformer:
    return RecordTransformer(current_mapping(path), "receivables")


def settle_notice(
    engine: Engine,
    org_id: int,
    source_id: int,
    notice: PaymentNotice,
    actor: str,
    delivery: tuple[str, str] | None = None,
) -> PaymentResult:
    """`apply_payment` in a transaction of its own, committed before this returns.

    PostgreSQL: the one statement runs in autocommit mode, where it is its own transaction —
    one round trip; an explicit BEGIN and COMMIT would be two more — on the pooled driver
    connection (dunlin.oneshot: SQLAlchemy's Connection and result layers were a third of a
    payment webhook's CPU). SQLite: the writers of this
    process and its siblings take turns (`sqlite_writer_turn`). Core, not the ORM: a session
    would only add overhead here."""
    if engine.dialect.name == "postgresql":
        values = _pg_values(org_id, source_id, notice, actor, delivery, utcnow())
        row = _pg_statement(delivery is not None, engine.dialect).run(engine, values)
        return _pg_result(row)
    with sqlite_writer_turn(engine), engine.begin() as conn:
        return apply_payment(conn, org_id, source_id, notice, actor, delivery)


def apply_payment(
    conn: Connection,
    org_id: int,
    source_id: int,
    notice: PaymentNotice,
    actor: str,
    delivery: tuple[str, str] | None = None,
) -> PaymentResult:
    """Record the delivery (endpoint, id) if given, lock the invoice's reminders that could
    still be claimed, read the invoice (and how many of its reminders are being sent), then
    mark it, cancel, and record every event. A replayed delivery changes nothing
    (`duplicate`). One statement on PostgreSQL, six on SQLite (payment_sql). Runs inside the
    caller's transaction, if any: `settle_notice` gives it its own."""
    now = utcnow()
    if conn.dialect.name == "postgresql":
        return _apply_pg(conn, org_id, source_id, notice, actor, delivery, now)
    keys = {"org": org_id, "source": source_id, "external_id": notice.external_id, "now": now}
    if delivery and not first_delivery(conn, org_id, *delivery):
        return PaymentResult(found=False, duplicate=True)
    conn.execute(sql.LOCK, keys)
    found = conn.execute(sql.READ, keys).first()
    if found is None:
        summary = _unknown_summary(notice)
        data = {"external_id": notice.external_id, "source_id": source_id}
        unknown = event_row(
            org_id, "payment.unknown_invoice", summary, at=now, actor=actor, data=data
        )
        conn.execute(sql.EVENTS, [unknown])
        return PaymentResult(found=False)
    receivable_id, old_status, old_amount, old_version, number, in_flight = found
    in_flight = int(in_flight or 0)
    after = judge(old_status, old_amount, old_version, notice)
    status, amount = after.status, after.amount_open
    subject = ("receivable", receivable_id)
    if after.outcome != APPLIED:
        summary = f"{number}: notice ignored ({after.outcome}), kept {status} {amount}"
        data = {
            "reason": after.outcome,
            "status": notice.status or None,
            "amount_open": None if notice.amount_open is None else str(notice.amount_open),
        }
        ignored = event_row(
            org_id, "payment.ignored", summary, at=now, actor=actor, subject=subject, data=data
        )
        conn.execute(sql.EVENTS, [ignored])
        return PaymentResult(
            True, receivable_id, status, amount, 0, in_flight, False, after.outcome
        )
    marks = {
        "receivable": receivable_id,
        "status": status,
        "amount": amount,
        "version": after.version,
        "now": now,
    }
    kind = "payment.received" if status in sql.SETTLED else "payment.partial"
    summary = f"{number}: {old_status} {old_amount} → {status} {amount}"
    conn.execute(sql.MARK, marks)
    cancelled: list[int] = []
    if status != "open":
        where = {"org": org_id, "receivable": receivable_id, "now": now}
        cancelled = list(conn.execute(CANCEL_FOR_RECEIVABLE, where).scalars())
    events = cancelled_events(org_id, now, cancelled)
    events.append(
        event_row(
            org_id,
            kind,
            summary,
            at=now,
            actor=actor,
            subject=subject,
            data={"status": status, "amount_open": str(amount), "cancelled": len(cancelled)},
        )
    )
    conn.execute(sql.EVENTS, events)
    return PaymentResult(True, receivable_id, status, amount, len(cancelled), in_flight)


def _apply_pg(
    conn: Connection,
    org_id: int,
    source_id: int,
    notice: PaymentNotice,
    actor: str,
    delivery: tuple[str, str] | None,
    now: datetime,
) -> PaymentResult:
    values = _pg_values(org_id, source_id, notice, actor, delivery, now)
    return _pg_result(tuple(conn.execute(sql.APPLY_PG[delivery is not None], values).one()))


def _pg_values(
    org_id: int,
    source_id: int,
    notice: PaymentNotice,
    actor: str,
    delivery: tuple[str, str] | None,
    now: datetime,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        **sql.APPLY_PG_CONSTANTS,
        "org": org_id,
        "source": source_id,
        "external_id": notice.external_id,
        "now": now,
        "amount": notice.amount_open,
        "status": notice.status,
        "version": notice.version,
        "reopen": notice.reopen,
        "actor": actor,
        "unknown_summary": _unknown_summary(notice),
    }
    if delivery:
        values |= delivery_row(org_id, *delivery)
    return values


@lru_cache(maxsize=8)
def _pg_statement(with_delivery: bool, dialect: Dialect) -> AutocommitStatement:
    return AutocommitStatement(sql.APPLY_PG[with_delivery], dialect)


def _pg_result(row: tuple[Any, ...] | None) -> PaymentResult:
    """APPLY_PG's one row: fresh, id, status, amount_open, in_flight, cancelled, outcome."""
    if row is None:
        raise RuntimeError("the payment statement returned no row")
    fresh, receivable_id, status, amount_open, in_flight, cancelled, outcome = row
    if not fresh:
        return PaymentResult(found=False, duplicate=True)
    if receivable_id is None:
        return PaymentResult(found=False)
    return PaymentResult(
        True, receivable_id, status, amount_open, cancelled, in_flight, False, outcome
    )


def _unknown_summary(notice: PaymentNotice) -> str:
    return f"payment notice for {notice.external_id}, not synced yet"


def judge(
    status: str, amount_open: Decimal, version: datetime | None, notice: PaymentNotice
) -> Settlement:
    """What a notice does to a receivable held as (status, amount_open, version).

    In this order: a notice older than the held version is STALE; one that would take a
    settled receivable (paid, cancelled, written off) back to owed is REOPEN_REFUSED unless it
    says `reopen`; one that cannot be ordered (it or the receivable has no version) and would
    raise the open amount is UNORDERED unless it says `reopen` — a late partial-payment notice
    must not put money back. Anything else is APPLIED (`settle`) and its version, if it has
    one, becomes the receivable's. An equal version applies: it is the same state again."""
    if notice.version is not None and version is not None and notice.version < version:
        return Settlement(STALE, status, amount_open, version)
    new_status, new_amount = settle(status, amount_open, notice)
    if status in sql.SETTLED and new_status not in sql.SETTLED and not notice.reopen:
        return Settlement(REOPEN_REFUSED, status, amount_open, version)
    unordered = notice.version is None or version is None
    if unordered and new_amount > amount_open and not notice.reopen:
        return Settlement(UNORDERED, status, amount_open, version)
    return Settlement(APPLIED, new_status, new_amount, notice.version or version)


def settle(status: str, amount_open: Decimal, notice: PaymentNotice) -> tuple[str, Decimal]:
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
