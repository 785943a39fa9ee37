"""Send due ledger rows: claim → guard → render → send → record.

This in-process dispatcher is what `dunlin send` runs on embedded defaults (outbox, no Redis).
The RQ workers of the dispatch issue run the same `send_one` per job.

A row is claimed (planned → sending, with a lease) and checked in one transaction; the send
happens outside it; the outcome is recorded in another. A worker that dies in between leaves a
`sending` row whose lease expires: the sweeper turns it `uncertain`, never resends it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from dunlin.events import record_event
from dunlin.models import Org
from dunlin.orgs import get_org
from reminders.channels.base import Channel, Outcome, OutgoingMessage, SendResult
from reminders.guard import Cancel, check
from reminders.models import Reminder
from reminders.render import Renderer

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
BACKOFF = (timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=6))
MAX_ATTEMPTS = 5


@dataclass
class SendReport:
    counts: Counter[str] = field(default_factory=Counter)
    broken_channels: set[str] = field(default_factory=set)
    marked_uncertain: int = 0


def sweep_expired_leases(session: Session, org_id: int, now: datetime) -> int:
    """Rows left `sending` past their lease: the outcome is unknown, so surface, don't resend."""
    result = session.execute(
        update(Reminder)
        .where(Reminder.org_id == org_id, Reminder.status == "sending", Reminder.lease_until < now)
        .values(
            status="uncertain",
            error="lease expired with the outcome unknown; check before resending",
            updated_at=now,
        )
    )
    return result.rowcount or 0


def due_rows(
    session: Session, org_id: int, now: datetime, limit: int | None = None
) -> list[tuple[int, str]]:
    """(id, channel) of planned rows whose time has come, oldest first."""
    stmt = (
        select(Reminder.id, Reminder.channel)
        .where(
            Reminder.org_id == org_id, Reminder.status == "planned", Reminder.scheduled_at <= now
        )
        .order_by(Reminder.scheduled_at, Reminder.id)
    )
    if limit:
        stmt = stmt.limit(limit)
    return [(row.id, row.channel) for row in session.execute(stmt)]


def _claim(session: Session, org_id: int, reminder_id: int, now: datetime) -> Reminder | None:
    claimed = session.execute(
        update(Reminder)
        .where(
            Reminder.id == reminder_id,
            Reminder.org_id == org_id,
            Reminder.status == "planned",
            Reminder.scheduled_at <= now,
        )
        .values(
            status="sending",
            lease_until=now + LEASE,
            attempts=Reminder.attempts + 1,
            updated_at=now,
        )
    ).rowcount
    if not claimed:
        return None  # someone else has it, or it was cancelled meanwhile
    return session.get(Reminder, reminder_id, populate_existing=True)


def send_one(
    factory: sessionmaker[Session],
    org: Org,
    reminder_id: int,
    now: datetime,
    channel: Channel,
    renderer: Renderer,
) -> str:
    """Returns what happened: sent, cancelled, retry, failed, uncertain, broken or skipped."""
    with factory() as session, session.begin():
        reminder = _claim(session, org.id, reminder_id, now)
        if reminder is None:
            return "skipped"
        verdict = check(session, org, reminder, now)
        if isinstance(verdict, Cancel):
            reminder.status, reminder.error, reminder.lease_until = (
                "cancelled",
                verdict.reason,
                None,
            )
            return "cancelled"
        try:
            locale = renderer.pick_locale(verdict.locale_wanted, org.language)
            rendered = renderer.render(reminder.template, locale, verdict.context)
        except Exception as exc:  # a broken template must not leave the row in flight
            reminder.status, reminder.error, reminder.lease_until = "failed", f"render: {exc}", None
            return "failed"
        message = OutgoingMessage(
            key=reminder.idempotency_key,
            channel=reminder.channel,
            recipient=reminder.recipient,
            locale=locale,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            short=rendered.short,
            created_at=reminder.scheduled_at,
            metadata={"reminder_id": reminder.id, "step": reminder.step, "track": reminder.track},
        )
    try:
        result = channel.send(message)
    except Exception as exc:  # unclassified: the provider may have accepted it
        log.exception("channel %s raised for reminder %s", reminder.channel, reminder_id)
        result = None
        error = f"unclassified error during send: {exc}"
    with factory() as session, session.begin():
        row = session.get(Reminder, reminder_id)
        assert row is not None
        if result is None:
            row.status, row.error = "uncertain", error
            return "uncertain"
        return _record(row, result, now)


def _record(row: Reminder, result: SendResult, now: datetime) -> str:
    row.lease_until = None
    row.error = result.detail or None
    if result.outcome is Outcome.SENT:
        row.status, row.sent_at, row.provider_message_id = "sent", now, result.provider_message_id
        return "sent"
    if result.outcome is Outcome.RETRY_LATER and row.attempts < MAX_ATTEMPTS:
        row.status = "planned"
        row.scheduled_at = now + BACKOFF[min(row.attempts, len(BACKOFF)) - 1]
        return "retry"
    if result.outcome is Outcome.RETRY_TOMORROW:
        row.status, row.scheduled_at = "planned", now + timedelta(days=1)
        return "retry"
    if result.outcome is Outcome.CHANNEL_BROKEN:
        row.status, row.scheduled_at = "planned", now + BACKOFF[-1]
        return "broken"
    row.status = "failed"
    return "failed"


def send_due(
    factory: sessionmaker[Session],
    org_slug: str,
    now: datetime,
    channel_for: Callable[[str], Channel],
    *,
    limit: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> SendReport:
    report = SendReport()
    renderer = Renderer()
    with factory() as session, session.begin():
        org = get_org(session, org_slug)
        report.marked_uncertain = sweep_expired_leases(session, org.id, now)
        due = due_rows(session, org.id, now, limit)
    channels: dict[str, Channel] = {}
    try:
        for done, (reminder_id, name) in enumerate(due, start=1):
            if name in report.broken_channels:
                report.counts["held (channel broken)"] += 1
                continue
            if name not in channels:
                channels[name] = channel_for(name)
            outcome = send_one(factory, org, reminder_id, now, channels[name], renderer)
            report.counts[outcome] += 1
            if outcome == "broken":
                report.broken_channels.add(name)
            if on_progress:
                on_progress(done, len(due))
    finally:
        for channel in channels.values():
            channel.close()
    with factory() as session, session.begin():
        record_event(
            session,
            org.id,
            "send.completed",
            ", ".join(f"{k}: {v}" for k, v in sorted(report.counts.items())) or "nothing due",
            data={
                "counts": dict(report.counts),
                "broken": sorted(report.broken_channels),
                "uncertain": report.marked_uncertain,
            },
        )
    return report
