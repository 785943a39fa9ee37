"""The numbers `dunlin status` shows, gathered once for every shell (CLI, admin API, console):
sources, open and overdue money, the reminder ledger, tasks, write-backs, the active policy,
broken channels and customers with an unknown zone. Queue depths live in Redis and stay with
the caller, who may not have Redis at hand."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dunlin.app import clock
from dunlin.models import Org
from reminders.core import statuses
from reminders.core.zones import valid_timezone
from reminders.models import Reminder, Task
from reminders.planning.policy_store import active_policy
from reminders.sending.channel_store import channel_configs
from sync.models import Customer, Receivable, Source, Writeback


@dataclass(frozen=True)
class SourceLine:
    name: str
    kind: str
    status: str
    status_detail: str
    last_synced_at: datetime | None
    skipped: Any  # what the last sync skipped, as its report says ("-" when none)


@dataclass(frozen=True)
class Money:
    """How many receivables, and their open amounts per currency."""

    count: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class BrokenChannel:
    name: str
    provider: str
    reason: str


@dataclass(frozen=True)
class StatusSummary:
    today: date  # in the org's zone: "overdue" means due before it
    sources: list[SourceLine]
    open: Money
    overdue: Money
    reminders: dict[str, int]  # ledger rows by status
    open_tasks: int
    writebacks: dict[str, int]  # failed and pending write-backs
    policy: str  # the active policy's label
    broken_channels: list[BrokenChannel]
    invalid_timezones: list[str]  # customers' external ids

    @property
    def in_flight(self) -> int:
        return sum(self.reminders.get(status, 0) for status in (statuses.QUEUED, statuses.SENDING))

    @property
    def uncertain(self) -> int:
        return self.reminders.get(statuses.UNCERTAIN, 0)


def _money(rows: Iterable[tuple[str, Decimal]]) -> Money:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    count = 0
    for currency, amount in rows:
        totals[currency] += amount
        count += 1
    return Money(count, dict(sorted(totals.items())))


def invalid_timezone_customers(session: Session, org_id: int) -> list[str]:
    """External ids of customers whose time zone is set but unknown."""
    rows = session.execute(
        select(Customer.external_id, Customer.timezone).where(
            Customer.org_id == org_id, Customer.timezone.is_not(None)
        )
    )
    return sorted(ext for ext, zone in rows if not valid_timezone(zone))


def status_summary(session: Session, org: Org, today: date | None = None) -> StatusSummary:
    """The org's status now (or as of `today`, a day in the org's zone)."""
    today = today or clock(None, org.timezone).today
    sources = session.scalars(
        select(Source).where(Source.org_id == org.id).order_by(Source.name)
    ).all()
    # Summed in Python: money is text on SQLite, and a SQL sum there would be a float.
    open_rows = session.execute(
        select(Receivable.currency, Receivable.amount_open, Receivable.due_on).where(
            Receivable.org_id == org.id, Receivable.status == "open"
        )
    ).all()
    by_status = dict(
        session.execute(
            select(Reminder.status, func.count())
            .where(Reminder.org_id == org.id)
            .group_by(Reminder.status)
        )
        .tuples()
        .all()
    )
    writebacks = dict(
        session.execute(
            select(Writeback.status, func.count())
            .where(Writeback.org_id == org.id, Writeback.status.in_(("pending", "failed")))
            .group_by(Writeback.status)
        )
        .tuples()
        .all()
    )
    return StatusSummary(
        today=today,
        sources=[
            SourceLine(
                s.name,
                s.kind,
                s.status,
                s.status_detail,
                s.last_synced_at,
                (s.last_report or {}).get("skipped", "-"),
            )
            for s in sources
        ],
        open=_money((c, a) for c, a, _ in open_rows),
        overdue=_money((c, a) for c, a, d in open_rows if d < today),
        reminders=by_status,
        open_tasks=session.scalar(
            select(func.count()).where(Task.org_id == org.id, Task.status == "open")
        )
        or 0,
        writebacks=writebacks,
        policy=active_policy(session, org.id).label,
        broken_channels=[
            BrokenChannel(name, config.provider, config.broken_reason)
            for name, config in sorted(channel_configs(session, org.id).items())
            if config.broken_reason
        ],
        invalid_timezones=invalid_timezone_customers(session, org.id),
    )
