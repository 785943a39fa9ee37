"""A source says an invoice was paid (fully or in part): record it and stop its reminders, in
one transaction, before the webhook answers (ARCHITECTURE invariant 2).

The invoice's unclaimed reminders are locked before the invoice is read, so a worker either
claimed its rows before us (that message is already leaving, and we say so) or finds them
cancelled when our transaction commits. On SQLite the first statement is a write, so it takes
its write lock at once instead of upgrading a stale read snapshot; PostgreSQL's row locks are
described in payment_sql.
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
from dunlin.deliveries import delivery_row, first_delivery
from dunlin.events import event_row
from dunlin.oneshot import AutocommitStatement
from mappings import current_mapping, resolve
from mappings.transform import RecordTransformer
from reminders.cancel import CANCEL_FOR_RECEIVABLE, CANCEL_REASON
from reminders.dispatch import transition_row
from sync import payment_sql as sql


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
    duplicate: bool = False  # the delivery was seen before; nothing changed


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
    receivable_id, old_status, old_amount, number, in_flight = found
    in_flight = int(in_flight or 0)
    status, amount = settle(old_status, old_amount, notice)
    marks = {"receivable": receivable_id, "status": status, "amount": amount, "now": now}
    kind = "payment.received" if status in sql.SETTLED else "payment.partial"
    summary = f"{number}: {old_status} {old_amount} → {status} {amount}"
    conn.execute(sql.MARK, marks)
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
    values = {
        **sql.APPLY_PG_CONSTANTS,
        "org": org_id,
        "source": source_id,
        "external_id": notice.external_id,
        "now": now,
        "amount": notice.amount_open,
        "status": notice.status,
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
    """APPLY_PG's one row: fresh, id, status, amount_open, in_flight, cancelled."""
    if row is None:
        raise RuntimeError("the payment statement returned no row")
    fresh, receivable_id, status, amount_open, in_flight, cancelled = row
    if not fresh:
        return PaymentResult(found=False, duplicate=True)
    if receivable_id is None:
        return PaymentResult(found=False)
    return PaymentResult(True, receivable_id, status, amount_open, cancelled, in_flight)


def _unknown_summary(notice: PaymentNotice) -> str:
    return f"payment notice for {notice.external_id}, not synced yet"


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
