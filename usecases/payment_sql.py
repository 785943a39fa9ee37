"""The payment path's SQL, built once at import: each request only binds values (SQLAlchemy
reuses the compiled SQL; rebuilding the expressions cost more than running them on SQLite).

SQLite runs delivery, lock, read, mark, cancel and events as six statements. PostgreSQL runs
one, APPLY_PG (delivery record, locks, settlement, cancel and every event, as data-modifying
CTEs). Both are tested to leave the same rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update

from dunlin.models import Event
from reminders import ledger
from reminders.core import statuses
from reminders.ledger import CANCEL_REASON, IN_FLIGHT, NOT_CLAIMED, TRANSITION_ACTOR
from reminders.models import Reminder
from sync.deliveries import RECEIVED_AT, RECORD_DELIVERY_SQL
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
IN_FLIGHT_COUNT = (
    select(func.count())
    .where(
        Reminder.org_id == bindparam("org"),
        Reminder.target_receivable_id == Receivable.id,
        IN_FLIGHT,
    )
    .scalar_subquery()
)
READ = (
    select(
        Receivable.id,
        Receivable.status,
        Receivable.amount_open,
        Receivable.source_updated_at,
        Receivable.number,
        IN_FLIGHT_COUNT,
    )
    .where(Receivable.id == TARGET)
    .with_for_update(of=Receivable.__table__)
)
MARK = (
    update(Receivable)
    .where(Receivable.id == bindparam("receivable"))
    .values(
        status=bindparam("status"),
        amount_open=bindparam("amount"),
        source_updated_at=bindparam("version"),
        updated_at=bindparam("now"),
    )
)
EVENTS = insert(Event)

# What a notice can settle a receivable as (the payment event says received, not partial).
SETTLED = ("paid", "cancelled", "written_off")

# PostgreSQL: the whole payment in one statement (data-modifying CTEs; SQLite has none), run
# as its own transaction: one round trip instead of BEGIN, open, settle, COMMIT. Every round
# trip costs ≈ 0.5 ms on the benchmark VM, and a gunicorn worker waits through each.
#
# `settled` is usecases.payments.judge (and settle) written in SQL:
# tests/integration/sync/test_payment_sql.py checks the two agree for every combination of old
# status, open amount, version and notice. Its status, amount_open and version are the
# receivable's after the notice: the old ones unless the outcome is 'applied'.
_SETTLED_STATES = ", ".join(f"'{state}'" for state in SETTLED)
SETTLE_SQL = f"""
settled AS (
    SELECT target.id, target.number, target.status AS old_status,
           target.amount_open AS old_amount, judged.outcome,
           CASE WHEN judged.outcome = 'applied' THEN decided.status
                ELSE target.status END AS status,
           CASE WHEN judged.outcome = 'applied' THEN proposed.amount_open
                ELSE target.amount_open END AS amount_open,
           CASE WHEN judged.outcome = 'applied'
                THEN COALESCE(CAST(:version AS timestamptz), target.source_updated_at)
                ELSE target.source_updated_at END AS version
    FROM target
    CROSS JOIN LATERAL (
        SELECT COALESCE(CAST(:amount AS numeric), target.amount_open) AS value
    ) AS amount
    CROSS JOIN LATERAL (
        SELECT COALESCE(NULLIF(CAST(:status AS text), ''),
                        CASE WHEN amount.value <= 0 THEN 'paid' ELSE 'open' END) AS status
    ) AS told
    CROSS JOIN LATERAL (
        SELECT CASE WHEN told.status = 'open' AND amount.value <= 0 THEN 'paid'
                    WHEN told.status = 'open' AND target.status = 'disputed' THEN 'disputed'
                    ELSE told.status END AS status
    ) AS decided
    CROSS JOIN LATERAL (
        SELECT CASE WHEN decided.status = 'paid' AND CAST(:amount AS numeric) IS NULL THEN 0
                    ELSE amount.value END AS amount_open
    ) AS proposed
    CROSS JOIN LATERAL (
        SELECT CASE
            WHEN CAST(:version AS timestamptz) < target.source_updated_at THEN 'stale'
            WHEN target.status IN ({_SETTLED_STATES})
                 AND decided.status NOT IN ({_SETTLED_STATES})
                 AND NOT CAST(:reopen AS boolean) THEN 'reopen_refused'
            WHEN (CAST(:version AS timestamptz) IS NULL OR target.source_updated_at IS NULL)
                 AND proposed.amount_open > target.amount_open
                 AND NOT CAST(:reopen AS boolean) THEN 'unordered'
            ELSE 'applied' END AS outcome
    ) AS judged
)"""


def _apply_pg(with_delivery: bool) -> Any:
    """PostgreSQL: record the delivery, lock the receivable and then its unsettled reminders,
    settle the receivable, cancel what is no longer due and write every event, in one
    statement.

    Receivable first, then reminders: every CTE that touches reminders reads the receivable's
    id from `target`, so its lock is taken first — the order a sync batch takes them (upsert,
    then cancel). A worker's claim locks only reminders. FOR UPDATE under READ COMMITTED waits
    for a claim in progress to commit and then returns the row as it is now, and the cancelling
    UPDATE re-checks the row the same way, so a claim that won the race is counted as in flight
    and is not cancelled. With a delivery, a replay (the INSERT did nothing) reads, locks and
    writes nothing: `fresh` is 0."""
    delivery = f"delivery AS ({RECORD_DELIVERY_SQL}), " if with_delivery else ""
    only_if_fresh = "AND EXISTS (SELECT 1 FROM delivery)" if with_delivery else ""
    fresh = "(SELECT count(*) FROM delivery)" if with_delivery else "1"
    # What settling stops, from the one definition cancel_for_settled and SQLite use.
    cancellable = ledger.sql_cancellable()
    # Locked: the rows settling may cancel, and those a worker holds (reported in flight).
    held = ledger.sql_status_in(statuses.OPEN)
    in_flight = ledger.sql_status_in(statuses.IN_FLIGHT)
    cancelled = ledger.sql_literal(statuses.CANCELLED)
    cancelled_kind = f"'{statuses.event_kind(statuses.CANCELLED)}'"
    events = "INSERT INTO events (org_id, at, kind, actor, subject_type, subject_id, summary, data)"
    sql = f"""
WITH {delivery}target AS (
    SELECT id, status, amount_open, source_updated_at, number FROM receivables
    WHERE org_id = :org AND source_id = :source AND external_id = :external_id {only_if_fresh}
    FOR UPDATE
), held AS (
    SELECT status FROM reminders
    WHERE org_id = :org AND target_receivable_id = (SELECT id FROM target)
      AND {held}
    FOR UPDATE
), {SETTLE_SQL.strip()}, marked AS (
    UPDATE receivables SET status = settled.status, amount_open = settled.amount_open,
                           source_updated_at = settled.version, updated_at = :now
    FROM settled WHERE receivables.id = settled.id AND settled.outcome = 'applied'
    RETURNING receivables.id
), cancelled AS (
    UPDATE reminders SET status = {cancelled}, error = :cancel_reason, updated_at = :now
    WHERE org_id = :org AND target_receivable_id = (
        SELECT id FROM settled WHERE status <> 'open' AND outcome = 'applied'
    ) AND {cancellable}
    RETURNING id
), cancel_events AS (
    {events}
    SELECT :org, :now, {cancelled_kind}, :dispatcher, 'reminder', id, :cancel_reason,
           json_build_object()
    FROM cancelled
), payment_event AS (
    {events}
    SELECT :org, :now,
           CASE WHEN status IN ({_SETTLED_STATES}) THEN 'payment.received'
                ELSE 'payment.partial' END,
           :actor, 'receivable', id,
           left(number || ': ' || old_status || ' ' || old_amount || ' → ' || status || ' '
                || amount_open, 500),
           json_build_object('status', status, 'amount_open', CAST(amount_open AS text),
                             'cancelled', (SELECT count(*) FROM cancelled))
    FROM settled WHERE outcome = 'applied'
), ignored_event AS (
    {events}
    SELECT :org, :now, 'payment.ignored', :actor, 'receivable', id,
           left(number || ': notice ignored (' || outcome || '), kept ' || status || ' '
                || amount_open, 500),
           json_build_object('reason', outcome, 'status', NULLIF(CAST(:status AS text), ''),
                             'amount_open', CAST(CAST(:amount AS numeric) AS text))
    FROM settled WHERE outcome <> 'applied'
), unknown_event AS (
    {events}
    SELECT :org, :now, 'payment.unknown_invoice', :actor, NULL, NULL, :unknown_summary,
           json_build_object('external_id', CAST(:external_id AS text),
                             'source_id', CAST(:source AS bigint))
    WHERE {fresh} > 0 AND NOT EXISTS (SELECT 1 FROM target)
)
SELECT {fresh} AS fresh, settled.id, settled.status, settled.amount_open,
       (SELECT count(*) FROM held WHERE {in_flight}) AS in_flight,
       (SELECT count(*) FROM cancelled) AS cancelled, settled.outcome
FROM (SELECT 1) AS one LEFT JOIN settled ON true
"""
    statement = text(sql).bindparams(
        bindparam("now", type_=Reminder.__table__.c.updated_at.type),
        bindparam("amount", type_=Receivable.__table__.c.amount_open.type),
        bindparam("version", type_=Receivable.__table__.c.source_updated_at.type),
    )
    return statement.bindparams(RECEIVED_AT) if with_delivery else statement


APPLY_PG = {True: _apply_pg(True), False: _apply_pg(False)}
# Constant values APPLY_PG binds.
APPLY_PG_CONSTANTS = {
    "cancel_reason": CANCEL_REASON,
    "dispatcher": TRANSITION_ACTOR,
}
