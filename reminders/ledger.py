"""The reminder ledger's transitions: every status change a row can make, in one module.

The words come from reminders/core/statuses.py; every statement that moves a row (and the
payment webhook's prebuilt SQL) is built here from those sets, so a rule such as "what a claim
takes" or "what settling an invoice stops" is written once. The send loop
(reminders/sending/dispatch.py) and the RQ plumbing (reminders/sending/queue.py) call these
functions; each writes the audit event `reminder.<status>` of the rows it moved.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, column, func, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from dunlin.alerts import alert
from dunlin.bulk import insert_rows
from dunlin.db import same_org, utcnow
from dunlin.events import event_row
from dunlin.models import Event
from reminders.core import statuses as s
from reminders.core.policy import THANK_YOU_STEP
from reminders.models import Reminder
from sync.models import Receivable

LEASE = timedelta(minutes=5)  # how long a claim may stay `sending` before the sweeper doubts it
TRANSITION_ACTOR = "dispatcher"  # who the audit trail names for ledger transitions
CANCEL_REASON = "receivable no longer open"


def _status_is_any(statuses: Iterable[str]) -> Any:
    """`status = a OR status = b`: an IN list is an "expanding" parameter that SQLAlchemy
    re-renders into the SQL on every execution; the payment webhook runs these per request."""
    return or_(*(Reminder.status == status for status in statuses))


# What settling an invoice stops: rows not yet claimed by a worker, except a thank-you (which
# is for a settled invoice). `cancel_for_settled`, the payment webhook's prebuilt statements
# and its PostgreSQL SQL all use it.
NOT_CLAIMED = _status_is_any(s.CLAIMABLE)
IN_FLIGHT = _status_is_any(s.IN_FLIGHT)
CANCELLABLE = (NOT_CLAIMED, Reminder.step != THANK_YOU_STEP)
CANCEL_FOR_RECEIVABLE = (
    update(Reminder)
    .where(
        Reminder.org_id == bindparam("org"),
        Reminder.target_receivable_id == bindparam("receivable"),
        *CANCELLABLE,
    )
    .values(status=s.CANCELLED, error=CANCEL_REASON, updated_at=bindparam("now"))
    .returning(Reminder.id)
)


def sql_literal(status: str) -> str:
    """A status as a PostgreSQL string literal, for SQL written as text (payment_sql)."""
    if status not in s.ALL:
        raise ValueError(f"not a reminder status: {status!r}")
    return f"'{status}'"


def sql_status_in(statuses: Sequence[str], name: str = "status") -> str:
    """`status IN ('a', 'b')` over a column of that name, as PostgreSQL SQL text."""
    for status in statuses:
        sql_literal(status)
    expression = column(name).in_(list(statuses))
    return str(
        expression.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    )


def sql_cancellable() -> str:
    """CANCELLABLE as PostgreSQL SQL text with its values inlined."""
    return str(
        and_(*CANCELLABLE).compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
    )


# --- the audit trail ------------------------------------------------------------------------


def record_transitions(
    session: Session, org_id: int, changes: Sequence[tuple[int, str, str]]
) -> None:
    """One audit event per ledger transition, inserted in one statement."""
    if changes:
        now = utcnow()
        insert_rows(
            session,
            Event.__table__,
            [transition_row(org_id, now, i, status, detail) for i, status, detail in changes],
        )


def transition_row(
    org_id: int, at: datetime, reminder_id: int, status: str, detail: str
) -> dict[str, Any]:
    return event_row(
        org_id,
        s.event_kind(status),
        detail,
        at=at,
        actor=TRANSITION_ACTOR,
        subject=("reminder", reminder_id),
    )


def cancelled_events(
    org_id: int, at: datetime, reminder_ids: Iterable[int]
) -> list[dict[str, Any]]:
    """The events of rows cancelled because their receivable was settled."""
    return [transition_row(org_id, at, i, s.CANCELLED, CANCEL_REASON) for i in reminder_ids]


# --- reading ------------------------------------------------------------------------------


def due_rows(
    session: Session, org_id: int, now: datetime, limit: int | None = None
) -> list[tuple[int, str]]:
    """(id, channel) of planned rows whose time has come, oldest first."""
    stmt = (
        select(Reminder.id, Reminder.channel)
        .where(
            Reminder.org_id == org_id, Reminder.status == s.PLANNED, Reminder.scheduled_at <= now
        )
        .order_by(Reminder.scheduled_at, Reminder.id)
    )
    if limit:
        stmt = stmt.limit(limit)
    return [(row.id, row.channel) for row in session.execute(stmt)]


def queued_job_ids(session: Session, org_id: int) -> list[str | None]:
    """The RQ jobs carrying the org's `queued` rows."""
    return list(
        session.scalars(
            select(Reminder.job_id)
            .where(Reminder.org_id == org_id, Reminder.status == s.QUEUED)
            .distinct()
        )
    )


def uncertain_summary(session: Session, org_id: int) -> tuple[int, int | None]:
    """(how many, newest id) of the org's unresolved `uncertain` rows."""
    count, newest = session.execute(
        select(func.count(), func.max(Reminder.id)).where(
            Reminder.org_id == org_id, Reminder.status == s.UNCERTAIN
        )
    ).one()
    return count, newest


def claimable_conditions(org_id: int, ids: Sequence[int], now: datetime) -> Any:
    """The conditions a claim checks, for the live balance check's look-ahead."""
    return (
        same_org(Reminder.org_id, org_id),
        Reminder.id.in_(list(ids)),
        Reminder.status.in_(s.CLAIMABLE),
        Reminder.scheduled_at <= now,
    )


# --- planned → queued → sending -----------------------------------------------------------


def mark_queued(
    session: Session, org_id: int, ids: Sequence[int], job_id: str, now: datetime
) -> list[int]:
    """planned → queued under `job_id` for those of `ids` still planned; returns them sorted."""
    taken = list(
        session.scalars(
            update(Reminder)
            .where(
                same_org(Reminder.org_id, org_id),
                Reminder.id.in_(list(ids)),
                Reminder.status == s.PLANNED,
            )
            .values(status=s.QUEUED, job_id=job_id, queued_at=now, updated_at=now)
            .returning(Reminder.id)
        )
    )
    record_transitions(session, org_id, [(i, s.QUEUED, job_id) for i in taken])
    return sorted(taken)


def requeue_lost(session: Session, org_id: int, lost: Sequence[str], now: datetime) -> int:
    """queued → planned for rows whose job will never deliver them; returns how many."""
    back = list(
        session.scalars(
            update(Reminder)
            .where(
                Reminder.org_id == org_id,
                Reminder.status == s.QUEUED,
                Reminder.job_id.in_(list(lost)),
            )
            .values(status=s.PLANNED, job_id=None, updated_at=now)
            .returning(Reminder.id)
        )
    )
    record_transitions(session, org_id, [(i, s.PLANNED, "requeued: job lost") for i in back])
    return len(back)


def claim(
    session: Session, org_id: int, ids: Sequence[int], now: datetime, job_id: str | None = None
) -> list[Reminder]:
    """planned|queued → sending for the given rows that are still due; others are skipped.

    The row records the claiming job, whose attempt log alone can later vouch that a send
    never started (two copies of a job may race after a requeue). The caller records the
    transitions (with the chunk's other events, in one statement)."""
    claimed = session.scalars(
        update(Reminder)
        .where(*claimable_conditions(org_id, ids, now))
        .values(
            status=s.SENDING,
            lease_until=now + LEASE,
            attempts=Reminder.attempts + 1,
            job_id=job_id,
            updated_at=now,
        )
        .returning(Reminder)  # the claimed rows themselves: no second round trip to load them
        .execution_options(populate_existing=True)
    ).all()
    return sorted(claimed, key=lambda row: row.id)  # RETURNING promises no order


def claimed_transitions(rows: Iterable[Reminder]) -> list[tuple[int, str, str]]:
    """The events of a claim: each row's channel is the detail."""
    return [(row.id, s.SENDING, row.channel) for row in rows]


def hold(
    session: Session, org_id: int, ids: Collection[int], until: datetime, why: str, now: datetime
) -> None:
    """Unclaimed rows wait until `until` (planned again if queued): their invoice could not be
    checked."""
    changed = session.scalars(
        update(Reminder)
        .where(
            same_org(Reminder.org_id, org_id),
            Reminder.id.in_(list(ids)),
            Reminder.status.in_(s.CLAIMABLE),
        )
        .values(status=s.PLANNED, scheduled_at=until, error=why, updated_at=now)
        .returning(Reminder.id)
    ).all()
    record_transitions(session, org_id, [(i, s.PLANNED, why) for i in changed])


# --- sending → an outcome -----------------------------------------------------------------


def give_up_claimed(row: Reminder, status: str, why: str) -> tuple[int, str, str]:
    """A claimed row that will not be sent (the guard cancelled it, its template broke) ends
    as `status` on the ORM row; returns its transition for the caller to record."""
    if status not in (s.CANCELLED, s.FAILED):
        raise ValueError(f"a claimed row is not given up as {status!r}")
    row.status, row.error, row.lease_until = status, why, None
    return (row.id, status, why)


def record_outcomes(
    session: Session, org_id: int, outcomes: Sequence[tuple[int, Mapping[str, Any]]]
) -> list[tuple[int, str, str]]:
    """sending → what each send came to (reminders/core/outcomes.py computed the changes).

    Returns the transitions for the caller to record once the chunk's other writes (a broken
    channel, fallback rows) are done, so the audit trail keeps its order."""
    if not outcomes:
        return []
    session.execute(update(Reminder), [{"id": i, **changes} for i, changes in outcomes])
    return [(i, str(changes["status"]), changes.get("error") or "") for i, changes in outcomes]


def release(session: Session, org_id: int, ids: Sequence[int], job_id: str | None) -> None:
    """Claimed rows whose send never began go back to `planned` (only while still `sending`
    under this run: a sweeper may have settled them already)."""
    if not ids:
        return
    back = list(
        session.scalars(
            update(Reminder)
            .where(
                same_org(Reminder.org_id, org_id),
                Reminder.id.in_(list(ids)),
                Reminder.status == s.SENDING,
                Reminder.job_id == job_id if job_id is not None else Reminder.job_id.is_(None),
            )
            .values(
                status=s.PLANNED,
                lease_until=None,
                attempts=Reminder.attempts - 1,
                job_id=None,
                updated_at=utcnow(),
            )
            .returning(Reminder.id)
        )
    )
    why = "released: the attempt log could not vouch for the send"
    record_transitions(session, org_id, [(i, s.PLANNED, why) for i in sorted(back)])


def sweep_expired_leases(
    session: Session,
    org_id: int,
    now: datetime,
    never_attempted: Callable[[list[tuple[int, str | None]]], set[int]] | None = None,
) -> int:
    """Rows left `sending` past their lease: the outcome is unknown, so surface, don't resend.

    `never_attempted` may vouch for rows whose send provably never started (the queue's
    attempt log); those go back to `planned`. Returns how many became `uncertain`."""
    expired = session.execute(
        select(Reminder.id, Reminder.job_id).where(
            Reminder.org_id == org_id, Reminder.status == s.SENDING, Reminder.lease_until < now
        )
    ).all()
    if not expired:
        return 0
    untouched = never_attempted([(r.id, r.job_id) for r in expired]) if never_attempted else set()
    if untouched:
        session.execute(
            update(Reminder)
            .where(
                same_org(Reminder.org_id, org_id),
                Reminder.id.in_(untouched),
                Reminder.status == s.SENDING,
            )
            .values(
                status=s.PLANNED,
                lease_until=None,
                attempts=Reminder.attempts - 1,
                error=None,
                updated_at=now,
            )
        )
        why = "lease expired before the send started"
        record_transitions(session, org_id, [(i, s.PLANNED, why) for i in sorted(untouched)])
    doubtful = [r.id for r in expired if r.id not in untouched]
    why = "lease expired with the outcome unknown; check before resending"
    if doubtful:
        session.execute(
            update(Reminder)
            .where(
                same_org(Reminder.org_id, org_id),
                Reminder.id.in_(doubtful),
                Reminder.status == s.SENDING,
            )
            .values(status=s.UNCERTAIN, error=why, lease_until=None, updated_at=now)
        )
        record_transitions(session, org_id, [(i, s.UNCERTAIN, why) for i in doubtful])
        alert(
            f"{len(doubtful)} reminder(s) uncertain in org #{org_id}",
            f"组织 #{org_id} 有 {len(doubtful)} 条提醒发送结果不确定",
            "a worker stopped after the send began; check with the provider before resending "
            "(dunlin status) / 请向服务商核实后再决定是否重发",
        )
    return len(doubtful)


# --- planned|queued → cancelled -----------------------------------------------------------


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
        .values(status=s.CANCELLED, error=CANCEL_REASON, updated_at=utcnow())
        .returning(Reminder.id)
    ).all()
    record_transitions(session, org_id, [(i, s.CANCELLED, CANCEL_REASON) for i in cancelled])
    return len(cancelled)
