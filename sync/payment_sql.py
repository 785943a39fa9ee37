"""The payment path's SQL, built once at import: each request only binds values (SQLAlchemy
reuses the compiled SQL; rebuilding the expressions cost more than running them on SQLite).

SQLite runs delivery, lock, read, mark, cancel and events as six statements. PostgreSQL runs
two: OPEN_PG (delivery record, receivable lock, reminder locks and the read) and SETTLE_PG
(mark, cancel and every event, as data-modifying CTEs). Both are tested to leave the same rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    String,
    bindparam,
    func,
    insert,
    literal,
    select,
    text,
    update,
)

from dunlin.deliveries import RECEIVED_AT, RECORD_DELIVERY_SQL
from dunlin.models import Event
from reminders.cancel import CANCEL_FOR_RECEIVABLE, CANCEL_REASON, NOT_CLAIMED
from reminders.dispatch import TRANSITION_ACTOR
from reminders.models import Reminder
from sync.models import Receivable

# SQLite.
TARGET = (
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
LOCK = (
    update(Reminder)
    .where(
        Reminder.org_id == bindparam("org"),
        Reminder.target_receivable_id == TARGET,
        NOT_CLAIMED,
    )
    .values(updated_at=bindparam("now"))
)
IN_FLIGHT = (
    select(func.count())
    .where(
        Reminder.org_id == bindparam("org"),
        Reminder.target_receivable_id == Receivable.id,
        Reminder.status == "sending",
    )
    .scalar_subquery()
)
READ = (
    select(Receivable.id, Receivable.status, Receivable.amount_open, Receivable.number, IN_FLIGHT)
    .where(Receivable.id == TARGET)
    .with_for_update(of=Receivable.__table__)
)
MARK = (
    update(Receivable)
    .where(Receivable.id == bindparam("receivable"))
    .values(
        status=bindparam("status"), amount_open=bindparam("amount"), updated_at=bindparam("now")
    )
)
EVENTS = insert(Event)

# PostgreSQL: mark, cancel and every event in one statement (data-modifying CTEs; SQLite has
# none).
EVENT_COLUMNS = ["org_id", "at", "kind", "actor", "subject_type", "subject_id", "summary", "data"]


def _events_from(*values: Any, rows: Any = None) -> Any:
    """INSERT INTO events … SELECT :org, :now, <kind, actor, subject, id, summary, data>
    [FROM rows]."""
    at = Event.__table__.c.at.type
    query = select(bindparam("org", type_=BigInteger), bindparam("now", type_=at), *values)
    return insert(Event).from_select(
        EVENT_COLUMNS, query if rows is None else query.select_from(rows)
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
SETTLE_PG = (
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
    .add_cte(MARK.returning(Receivable.id).cte("marked"), _cancelled, _cancel_events)
    .returning(select(func.count()).select_from(_cancelled).scalar_subquery())
)


def _open_pg(with_delivery: bool) -> Any:
    """PostgreSQL: record the delivery, lock the receivable and then its unsettled reminders,
    and read both, in one statement.

    Receivable first, then reminders: the order a sync batch takes them (upsert, then cancel).
    A worker's claim locks only reminders. FOR UPDATE under READ COMMITTED waits for a claim
    in progress to commit and then returns the row as it is now, so a claim that won the race
    is counted as in flight and is not cancelled. With a delivery, a replay (the INSERT did
    nothing) reads and locks nothing: `fresh` is 0."""
    delivery = f"delivery AS ({RECORD_DELIVERY_SQL}), " if with_delivery else ""
    only_if_fresh = "AND EXISTS (SELECT 1 FROM delivery)" if with_delivery else ""
    fresh = "(SELECT count(*) FROM delivery)" if with_delivery else "1"
    sql = f"""
WITH {delivery}target AS (
    SELECT id, status, amount_open, number FROM receivables
    WHERE org_id = :org AND source_id = :source AND external_id = :external_id {only_if_fresh}
    FOR UPDATE
), held AS (
    SELECT status FROM reminders
    WHERE org_id = :org AND target_receivable_id = (SELECT id FROM target)
      AND status IN ('planned', 'queued', 'sending')
    FOR UPDATE
)
SELECT {fresh} AS fresh, target.id, target.status, target.amount_open, target.number,
       (SELECT count(*) FROM held WHERE status = 'sending') AS in_flight
FROM (SELECT 1) AS one LEFT JOIN target ON true
"""
    statement = text(sql)
    return statement.bindparams(RECEIVED_AT) if with_delivery else statement


OPEN_PG = {True: _open_pg(True), False: _open_pg(False)}
