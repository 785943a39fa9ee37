"""The planner: gather facts set-based, decide with pure functions, insert ledger rows in bulk.

Idempotent: each row's key is (pace-setting receivable, step, channel) under a unique
constraint, so planning twice — or two planners at once — never duplicates a message.
`dry_run` runs the same code path and rolls back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from dunlin.bulk import insert_ignoring_conflicts
from dunlin.db import utcnow
from dunlin.events import record_event
from dunlin.models import Org
from dunlin.orgs import get_org
from reminders.decide import Decision, Skip, decide
from reminders.facts import CustomerInfo, done_steps, load_groups
from reminders.models import Reminder, Task
from reminders.policy import Policy, default_policy


@dataclass(frozen=True)
class Planned:
    customer: CustomerInfo
    decision: Decision
    scheduled_at: datetime

    @property
    def key(self) -> str:
        return f"r{self.decision.target.id}:{self.decision.step.name}:{self.decision.channel}"


@dataclass
class PlanReport:
    today: date
    dry_run: bool
    planned: list[Planned] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    reminders_inserted: int = 0
    tasks_inserted: int = 0


def skip_category(skip: Skip) -> str:
    return skip.reason.split(":")[0].split(" / ")[0]


def scheduled_time(today: date, hour: int, tz_name: str) -> datetime:
    local = datetime.combine(today, time(hour), ZoneInfo(tz_name))
    return local.astimezone(UTC)


def plan(
    factory: sessionmaker[Session],
    org_slug: str,
    today: date,
    *,
    policy: Policy | None = None,
    dry_run: bool = False,
) -> PlanReport:
    policy = policy or default_policy()
    report = PlanReport(today=today, dry_run=dry_run)
    with factory() as session:
        session.begin()
        org = get_org(session, org_slug)
        done = done_steps(session, org.id)
        for customer, _currency, invoices in load_groups(session, org.id):
            outcome = decide(policy, customer.fact, invoices, today, done)
            if isinstance(outcome, Skip):
                report.skipped[skip_category(outcome)] += 1
                continue
            when = scheduled_time(today, policy.send_hour, customer.timezone or org.timezone)
            report.planned.append(Planned(customer, outcome, when))
        report.reminders_inserted = insert_ignoring_conflicts(
            session,
            Reminder.__table__,
            [_reminder_row(org, policy, p) for p in report.planned if p.decision.channel],
            key=("org_id", "idempotency_key"),
        )
        report.tasks_inserted = insert_ignoring_conflicts(
            session,
            Task.__table__,
            [_task_row(org, today, p) for p in report.planned if p.decision.step.task],
            key=("org_id", "idempotency_key"),
        )
        if dry_run:
            session.rollback()
            return report
        record_event(
            session,
            org.id,
            "plan.completed",
            f"planned {report.reminders_inserted} reminders and {report.tasks_inserted} tasks "
            f"for {today.isoformat()}",
            data={"skipped": dict(report.skipped)},
        )
        session.commit()
    return report


def _reminder_row(org: Org, policy: Policy, p: Planned) -> dict:
    d = p.decision
    now = utcnow()
    return {
        "org_id": org.id,
        "customer_id": p.customer.fact.id,
        "target_receivable_id": d.target.id,
        "receivable_ids": [i.id for i in d.invoices],
        "idempotency_key": p.key,
        "policy": policy.name,
        "track": d.track.name,
        "step": d.step.name,
        "channel": d.channel,
        "template": d.step.template,
        "tone": d.step.tone,
        "recipient": d.recipient,
        "currency": d.currency,
        "amount_open": d.total,
        "status": "planned",
        "reason": d.reason,
        "scheduled_at": p.scheduled_at,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


def _task_row(org: Org, today: date, p: Planned) -> dict:
    d = p.decision
    spec = d.step.task
    assert spec is not None
    summary = spec.summary.format(
        customer=p.customer.name, count=len(d.invoices), total=f"{d.total} {d.currency}"
    )
    return {
        "org_id": org.id,
        "customer_id": p.customer.fact.id,
        "receivable_id": d.target.id,
        "idempotency_key": f"task:r{d.target.id}:{d.step.name}",
        "assignee": p.customer.salesperson_ref or p.customer.salesperson_name,
        "summary": summary,
        "due_on": today + timedelta(days=spec.due_in_days),
        "status": "open",
        "data": {
            "step": d.step.name,
            "track": d.track.name,
            "invoices": [i.number for i in d.invoices],
            "reason": d.reason,
        },
        "created_at": utcnow(),
    }
