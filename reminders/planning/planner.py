"""The planner: gather facts set-based, decide with pure functions, schedule into send windows
under frequency caps, and insert ledger rows and tasks in bulk.

Idempotent: each row's key is (pace-setting receivable, occurrence, channel) under a unique
constraint, so planning twice — or two planners at once — never duplicates a message.
`dry_run` runs the same code path and rolls back.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from dunlin.bulk import analyze_after_bulk, insert_ignoring_conflicts
from dunlin.db import utcnow
from dunlin.events import record_event
from dunlin.models import Org
from dunlin.orgs import get_org
from reminders.core.decide import (
    Decision,
    Done,
    InvoiceFact,
    Skip,
    could_change,
    decide,
    pace_setter,
)
from reminders.core.keys import base_key, reminder_key, task_key, veto_key
from reminders.core.policy import Policy
from reminders.core.schedule import (
    CapLedger,
    SendWindows,
    WorkCalendar,
    calendar_for,
    next_send_time,
    spread_offset,
)
from reminders.core.statuses import PLANNED
from reminders.core.zones import customer_zone, valid_timezone
from reminders.customer_actions import check_broken_promises
from reminders.models import Reminder, Task
from reminders.planning.facts import (
    LOOKUP_CHUNK,
    CustomerInfo,
    cap_usage,
    chunks,
    done_steps,
    invoice_facts,
    load_customers,
    pace_setters,
    stream_groups,
)
from reminders.planning.policy_store import active_policy
from reminders.planning.thanks import plan_thanks


@dataclass(frozen=True)
class Planned:
    customer: CustomerInfo
    decision: Decision
    scheduled_at: datetime
    timezone: str

    @property
    def base_key(self) -> str:
        return base_key(self.decision.target.id, self.decision.occurrence.name)

    def key(self, channel: str) -> str:
        return reminder_key(self.decision.target.id, self.decision.occurrence.name, channel)


@dataclass
class PlanReport:
    today: date
    dry_run: bool
    policy: str = ""
    planned: list[Planned] = field(default_factory=list)  # up to `keep` of them
    planned_count: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    reminders_inserted: int = 0
    tasks_inserted: int = 0
    invalid_timezones: set[str] = field(default_factory=set)  # customer external ids
    broken_promises: int = 0
    thanks_planned: int = 0  # thank-you messages for invoices paid after a reminder


# What makes one skip reason differ from another of its kind: the invoice, the date, the amount.
_REASON_DETAIL = re.compile(
    r" (?:about|until|for) \S+| \(tier [^)]*\)|(?<=open amount) \S+ \S+(?= is below)"
    r"|(?<=the minimum) \S+"
)


def skip_category(skip: Skip) -> str:
    """The kind of a skip without what names one invoice or customer, so a report counts
    reasons ("already reminded today ×120") instead of listing every invoice."""
    english = skip.reason.split(" / ")[0].split(":")[0]
    return _REASON_DETAIL.sub("", english).strip()


def start_of_day(day: date, tz_name: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(tz_name)).astimezone(UTC)


@dataclass
class Scheduler:
    """Send times and caps for one planning run."""

    policy: Policy
    calendar: WorkCalendar
    windows: SendWindows
    caps: CapLedger
    not_before: datetime

    @classmethod
    def for_run(
        cls, policy: Policy, org: Org, today: date, not_before: datetime | None
    ) -> Scheduler:
        """Empty caps; `not_before` defaults to the start of `today` in the org's zone."""
        return cls(
            policy,
            calendar_for(policy.calendar),
            policy.windows(),
            CapLedger(policy.caps.to_caps()),
            not_before or start_of_day(today, org.timezone),
        )

    def schedule(self, planned_key: str, today: date, tz: str, veto_hours: int | None) -> datetime:
        floor = self.not_before + timedelta(hours=veto_hours) if veto_hours else self.not_before
        return next_send_time(
            today,
            floor,
            self.windows,
            self.calendar,
            tz,
            spread_offset(planned_key, self.policy.spread_minutes),
        )


def plan(
    factory: sessionmaker[Session],
    org_slug: str,
    today: date,
    *,
    policy: Policy | None = None,
    not_before: datetime | None = None,
    dry_run: bool = False,
    keep: int | None = None,
) -> PlanReport:
    """Plan `today` for an org. `not_before`: the earliest send time (default: start of `today`
    in the org's zone); `policy`: use this one instead of the org's active policy; `keep`: how
    many decisions the report holds for display (None: all — memory grows with the org)."""
    report = PlanReport(today=today, dry_run=dry_run)
    with factory() as session:
        session.begin()
        org = get_org(session, org_slug)
        if not dry_run:  # a broken promise resumes reminders today and escalates to a person
            report.broken_promises = check_broken_promises(session, org.id, today)
        if policy is None:
            active = active_policy(session, org.id)
            policy, report.policy = active.policy, active.label
        else:
            report.policy = f"{policy.name} (file)"
        scheduler = Scheduler.for_run(policy, org, today, not_before)
        writer = _LedgerWriter(session, org, report, today, scheduler.calendar)
        paces, done = _candidates(session, org.id, policy, today, scheduler.calendar, report)
        _seed_caps(session, org, scheduler.caps, today, sorted({c for c, _ in paces}))
        decide_one = partial(_decide_one, policy, org, today, scheduler, report, writer, keep)
        batch: list[Group] = []
        for group in _groups_of(session, org.id, paces):
            batch.append(group)
            if len(batch) >= CANDIDATE_CHUNK:
                _decide_chunk(session, org.id, batch, paces, done, decide_one)
                batch = []
        _decide_chunk(session, org.id, batch, paces, done, decide_one)
        writer.flush()
        if policy.thank_you is not None:

            def send_time(customer: CustomerInfo, key: str) -> datetime:
                tz = customer_zone(customer.timezone, org.timezone)
                return scheduler.schedule(key, today, tz, None)

            report.thanks_planned = plan_thanks(
                session, org, report.policy, policy.thank_you, today, send_time
            )
        if dry_run:
            session.rollback()
            return report
        record_event(
            session,
            org.id,
            "plan.completed",
            f"planned {report.reminders_inserted} reminders and {report.tasks_inserted} tasks "
            f"for {today.isoformat()} with {report.policy}",
            data={
                "skipped": dict(report.skipped),
                "invalid_timezones": sorted(report.invalid_timezones),
            },
        )
        session.commit()
        written = report.reminders_inserted + report.tasks_inserted
        analyze_after_bulk(session, written, "reminders", "tasks")
    return report


CANDIDATE_CHUNK = 2000
# The candidate groups, (customer id, currency), in that order, each with its pace-setter's id.
Paces = dict[tuple[int, str], int]


def _candidates(
    session: Session,
    org_id: int,
    policy: Policy,
    today: date,
    calendar: WorkCalendar,
    report: PlanReport,
) -> tuple[Paces, dict[int, dict[str, date]]]:
    """The first pass, one row per group: most groups have nothing new today and never need
    their invoices, customer or anything else loaded. `could_change` is exact about that (see
    decide.py), and needs only the group's pace-setter and what was done for it. Returns the
    candidate groups and what was done for their pace-setters."""
    found: Paces = {}
    found_done: dict[int, dict[str, date]] = {}
    pending: list[Any] = []

    def check() -> None:
        done = done_steps(session, org_id, [row.id for row in pending])
        for row in pending:
            if could_change(policy, row, today, done, calendar):
                found[(row.customer_id, row.currency)] = row.id
                if row.id in done:
                    found_done[row.id] = done[row.id]
            else:
                report.skipped["nothing new today"] += 1
        pending.clear()

    for row in pace_setters(session, org_id):
        pending.append(row)
        if len(pending) >= LOOKUP_CHUNK:
            check()
    check()
    return found, found_done


# Above this many candidates, one scan of the org's rows costs less than looking them up by
# id, and cannot go wrong on a database's stale row estimates: for the groups' invoices (2,000
# customers a query, a hundred queries on a first run, took five times the single stream on
# PostgreSQL) and for the week's cap usage.
LOOKUP_LIMIT = 5000
Group = tuple[int, str, list[InvoiceFact]]  # (customer id, currency, its open invoices)


def _groups_of(session: Session, org_id: int, paces: Paces) -> Iterator[Group]:
    """The candidate groups with every open invoice, read now, in pace order."""
    if len(paces) > LOOKUP_LIMIT:
        streams: Iterable[Iterator[tuple[int, str, list[Any]]]] = [stream_groups(session, org_id)]
    else:
        ids = sorted({customer_id for customer_id, _ in paces})
        streams = (stream_groups(session, org_id, chunk) for chunk in chunks(ids, CANDIDATE_CHUNK))
    for stream in streams:
        for customer_id, currency, rows in stream:
            if (customer_id, currency) in paces:
                yield customer_id, currency, invoice_facts(rows)


def _decide_chunk(
    session: Session,
    org_id: int,
    groups: list[Group],
    paces: Paces,
    done: dict[int, dict[str, date]],
    decide_one: Callable[[CustomerInfo, list[InvoiceFact], Done], None],
) -> None:
    """Decide a chunk of candidate groups on their full, current facts: the group's open
    invoices, the customer, and what was done for the pace-setter."""
    if not groups:
        return
    # A payment since the first pass may have moved a group's pace on to another invoice:
    # what was done for that one is looked up now. (Only then: the ledger grows during the
    # run, and lookups on a table whose statistics predate the run can be planned badly.)
    moved = [
        target.id
        for customer_id, currency, invoices in groups
        if (target := pace_setter(invoices)) is not None
        and target.id != paces[(customer_id, currency)]
    ]
    if moved:
        done.update(done_steps(session, org_id, moved))
    customers = load_customers(session, org_id, [customer_id for customer_id, _, _ in groups])
    for customer_id, _currency, invoices in groups:
        decide_one(customers[customer_id], invoices, done)


CAP_REACHED = Skip("frequency cap reached")


def decide_group(
    policy: Policy,
    org: Org,
    today: date,
    scheduler: Scheduler,
    customer: CustomerInfo,
    invoices: list[InvoiceFact],
    done: Done,
) -> Planned | Skip:
    """The planner's decision for one customer × currency group: decide, schedule in the
    customer's zone, and take from the run's caps. Groups must come in the planner's order
    (customer, then currency), since each one's message counts against the next one's caps."""
    tz = customer_zone(customer.timezone, org.timezone)
    outcome = decide(policy, customer.fact, invoices, today, done, scheduler.calendar)
    if isinstance(outcome, Skip):
        return outcome
    key = base_key(outcome.target.id, outcome.occurrence.name)
    when = scheduler.schedule(key, today, tz, outcome.track.veto_hours)
    if outcome.deliveries and not scheduler.caps.take(
        customer.fact.id, when.astimezone(ZoneInfo(tz)).date()
    ):
        return CAP_REACHED
    return Planned(customer, outcome, when, tz)


@dataclass(frozen=True)
class Explained:
    """What the planner would do for one of a customer's currency groups."""

    customer_id: int
    name: str
    currency: str | None  # None: the customer has nothing open
    outcome: Planned | Skip | None


def explain(
    factory: sessionmaker[Session],
    org_slug: str,
    customer_ids: list[int],
    today: date,
    *,
    policy: Policy | None = None,
    not_before: datetime | None = None,
) -> list[Explained]:
    """`plan(dry_run=True)` for these customers only, with every group's reason: the same
    decision, schedule and caps (seeded from the ledger as `plan` seeds them). Writes nothing."""
    found: list[Explained] = []
    with factory() as session:
        org = get_org(session, org_slug)
        policy = policy or active_policy(session, org.id).policy
        scheduler = Scheduler.for_run(policy, org, today, not_before)
        ids = sorted(set(customer_ids))
        _seed_caps(session, org, scheduler.caps, today, ids)
        customers = load_customers(session, org.id, ids)
        for customer_id in ids:
            info = customers[customer_id]
            groups = list(stream_groups(session, org.id, [customer_id]))
            if not groups:
                found.append(Explained(customer_id, info.name, None, None))
            done = done_steps(session, org.id, [r.id for _, _, rows in groups for r in rows])
            for _id, currency, rows in groups:
                outcome = decide_group(
                    policy, org, today, scheduler, info, invoice_facts(rows), done
                )
                found.append(Explained(customer_id, info.name, currency, outcome))
    return found


def _decide_one(
    policy: Policy,
    org: Org,
    today: date,
    scheduler: Scheduler,
    report: PlanReport,
    writer: _LedgerWriter,
    keep: int | None,
    customer: CustomerInfo,
    invoices: list[InvoiceFact],
    done: Done,
) -> None:
    """Decide, schedule and cap one group; what is planned goes to the writer."""
    if customer.timezone and not valid_timezone(customer.timezone):
        report.invalid_timezones.add(customer.external_id)
    planned = decide_group(policy, org, today, scheduler, customer, invoices, done)
    if isinstance(planned, Skip):
        report.skipped[skip_category(planned)] += 1
        return
    report.planned_count += 1
    if keep is None or len(report.planned) < keep:
        report.planned.append(planned)
    writer.add(planned)


class _LedgerWriter:
    """Inserts ledger rows and tasks in chunks as decisions come, so memory stays flat."""

    CHUNK = 2000

    def __init__(
        self, session: Session, org: Org, report: PlanReport, today: date, calendar: WorkCalendar
    ) -> None:
        self.session, self.org, self.report, self.today, self.calendar = (
            session,
            org,
            report,
            today,
            calendar,
        )
        self.pending: list[Planned] = []

    def add(self, planned: Planned) -> None:
        self.pending.append(planned)
        if len(self.pending) >= self.CHUNK:
            self.flush()

    def flush(self) -> None:
        now = utcnow()  # one value for the chunk: the bulk insert converts it once
        rows = [
            r
            for p in self.pending
            for r in _reminder_rows(self.org, self.report.policy, self.today, p, now)
        ]
        self.report.reminders_inserted += insert_ignoring_conflicts(
            self.session, Reminder.__table__, rows, key=("org_id", "idempotency_key")
        )
        tasks = [
            t for p in self.pending for t in _task_rows(self.org, self.today, p, self.calendar, now)
        ]
        self.report.tasks_inserted += insert_ignoring_conflicts(
            self.session, Task.__table__, tasks, key=("org_id", "idempotency_key")
        )
        self.pending = []


def _seed_caps(
    session: Session, org: Org, ledger: CapLedger, today: date, customers: list[int]
) -> None:
    """Count what is already planned or sent this week and ahead, per customer local day, for
    the customers that may get a message today."""
    since = start_of_day(today - timedelta(days=7), org.timezone)
    zone = ZoneInfo(org.timezone)
    which = customers if len(customers) <= LOOKUP_LIMIT else None
    for customer_id, _target, _step, scheduled_at in cap_usage(session, org.id, since, which):
        ledger.count(customer_id, scheduled_at.astimezone(zone).date())


def _reminder_rows(
    org: Org, policy_label: str, today: date, p: Planned, now: datetime
) -> list[dict[str, Any]]:
    d = p.decision
    fallbacks = [[list(pair) for pair in group] for group in d.fallbacks] if d.fallbacks else ()
    return [
        {
            "org_id": org.id,
            "customer_id": p.customer.fact.id,
            "target_receivable_id": d.target.id,
            "receivable_ids": [i.id for i in d.invoices],
            "idempotency_key": p.key(channel),
            "policy": policy_label,
            "track": d.track.name,
            "step": d.occurrence.name,
            "channel": channel,
            "template": d.step.template,
            "tone": d.step.tone,
            "recipient": address,
            "currency": d.currency,
            "amount_open": d.total,
            "status": PLANNED,
            "reason": d.reason,
            "planned_on": today,
            "scheduled_at": p.scheduled_at,
            "attempts": 0,
            "fallbacks": fallbacks,  # mostly none: one shared () the insert converts once
            "created_at": now,
            "updated_at": now,
        }
        for channel, address in d.deliveries
    ]


def resolve_assignee(assignee: str, customer: CustomerInfo) -> str | None:
    """salesperson / source_responsible → the customer's salesperson; user:X → X; role:X kept."""
    if assignee in ("salesperson", "source_responsible"):
        return customer.salesperson_ref or customer.salesperson_name
    if assignee.startswith("user:"):
        return assignee.removeprefix("user:")
    return assignee


def _task_rows(
    org: Org, today: date, p: Planned, calendar: WorkCalendar, now: datetime
) -> list[dict[str, Any]]:
    d = p.decision
    base = {
        "org_id": org.id,
        "customer_id": p.customer.fact.id,
        "receivable_id": d.target.id,
        "step": d.occurrence.name,
        "planned_on": today,
        "status": "open",
        "created_at": now,
    }
    data = {
        "track": d.track.name,
        "invoices": [i.number for i in d.invoices],
        "reason": d.reason,
    }
    rows = []
    if d.step.task is not None:
        spec = d.step.task
        rows.append(
            {
                **base,
                "idempotency_key": task_key(p.base_key),
                "assignee": resolve_assignee(spec.assignee, p.customer),
                "summary": spec.summary.format(
                    customer=p.customer.name, count=len(d.invoices), total=f"{d.total} {d.currency}"
                ),
                "due_on": calendar.add_working_days(today, spec.due_in_business_days),
                "data": {**data, "kind": "follow-up"},
            }
        )
    if d.track.veto_hours and d.deliveries:
        local = p.scheduled_at.astimezone(ZoneInfo(p.timezone))
        rows.append(
            {
                **base,
                "idempotency_key": veto_key(p.base_key),
                "assignee": resolve_assignee("salesperson", p.customer),
                "summary": (
                    f"Review the reminder to {p.customer.name} ({d.total} {d.currency}) before "
                    f"{local:%Y-%m-%d %H:%M}; veto it with `dunlin tasks veto` / "
                    f"提醒发送前请审核，如需拦截请执行 dunlin tasks veto"
                ),
                "due_on": local.date(),
                "data": {
                    **data,
                    "kind": "veto",
                    "reminder_keys": [p.key(c) for c, _ in d.deliveries],
                },
            }
        )
    return rows
