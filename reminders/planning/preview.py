"""The context a reminder to one customer would be rendered with, for previews.

A preview lists exactly what the message would: the invoices of the customer's next planned
ledger row, re-checked by the dispatcher's own guard (reminders/sending/guard.py); without
one, the invoices the planner's decision (`decide`) would list today. Only when neither holds
anything does it fall back to the invoices already due, and it says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunlin.models import Org
from reminders.core import statuses
from reminders.core.decide import Decision, decide
from reminders.core.policy import THANK_YOU_STEP, Policy
from reminders.core.schedule import calendar_for
from reminders.core.zones import customer_zone
from reminders.models import Reminder
from reminders.planning.facts import done_steps, invoice_facts, load_customers, stream_groups
from reminders.planning.policy_store import active_policy
from reminders.sending.guard import Proceed, check_many, local_today, message_context
from sync.models import Customer, Receivable


@dataclass(frozen=True)
class Preview:
    context: dict[str, Any]
    basis: str  # which invoices the preview shows, and why (printed above it)
    template: str | None = None  # the template the message would use, when one is known
    reminder_id: int | None = None  # the planned row it shows, if any (its links name it)


def preview_context(
    session: Session,
    org: Org,
    customer: Customer,
    now: datetime | None = None,
    policy: Policy | None = None,
) -> Preview | None:
    """What the next message to `customer` would list; None when nothing is open."""
    now = now or datetime.now(UTC)
    today = local_today(now, customer_zone(customer.timezone, org.timezone))
    return (
        _planned(session, org, customer, now)
        or _decided(session, org, customer, today, policy)
        or _already_due(session, org, customer, today)
    )


def _planned(session: Session, org: Org, customer: Customer, now: datetime) -> Preview | None:
    """The customer's next planned row, through the guard the dispatcher runs before sending."""
    rows = session.scalars(
        select(Reminder)
        .where(
            Reminder.org_id == org.id,
            Reminder.customer_id == customer.id,
            Reminder.status.in_(statuses.CLAIMABLE),
            Reminder.step != THANK_YOU_STEP,
        )
        .order_by(Reminder.scheduled_at, Reminder.id)
    ).all()
    verdicts = check_many(session, org, list(rows), now)
    for row in rows:
        verdict = verdicts[row.id]
        if isinstance(verdict, Proceed):
            basis = (
                f"planned reminder #{row.id} ({row.track}/{row.step} via {row.channel}, "
                f"{row.scheduled_at:%Y-%m-%d %H:%M} UTC) / 已计划的提醒"
            )
            return Preview(verdict.context, basis, row.template, row.id)
    return None


def _decided(
    session: Session, org: Org, customer: Customer, today: date, policy: Policy | None
) -> Preview | None:
    """The planner's decision for today, as `dunlin explain` states it."""
    policy = policy or active_policy(session, org.id).policy
    calendar = calendar_for(policy.calendar)
    info = load_customers(session, org.id, [customer.id]).get(customer.id)
    if info is None:
        return None
    groups = list(stream_groups(session, org.id, [customer.id]))
    done = done_steps(session, org.id, [r.id for _, _, rows in groups for r in rows])
    for _customer_id, _currency, rows in groups:
        outcome = decide(policy, info.fact, invoice_facts(rows), today, done, calendar)
        if isinstance(outcome, Decision):
            invoices = _receivables(session, org, [i.id for i in outcome.invoices])
            if invoices:
                context = message_context(
                    org, customer, invoices, outcome.currency, outcome.step.tone, today
                )
                return Preview(
                    context, f"today's decision / 今日决策: {outcome.reason}", outcome.step.template
                )
    return None


def _already_due(session: Session, org: Org, customer: Customer, today: date) -> Preview | None:
    """Nothing would be sent today: the oldest currency group's invoices due by today (all of
    its open ones if none is due yet), labelled as such."""
    invoices = _receivables(session, org, None, customer)
    if not invoices:
        return None
    currency = invoices[0].currency
    same = [i for i in invoices if i.currency == currency]
    due = [i for i in same if i.due_on <= today] or same
    basis = (
        "nothing would be sent today; showing the invoices due by today "
        "/ 今日不会发送；以下为已到期的应收"
    )
    return Preview(message_context(org, customer, due, currency, "friendly", today), basis)


def _receivables(
    session: Session, org: Org, ids: list[int] | None, customer: Customer | None = None
) -> list[Receivable]:
    """Open, remindable receivables (by id, or all of a customer's), oldest first."""
    query = select(Receivable).where(
        Receivable.org_id == org.id,
        Receivable.status == "open",
        Receivable.do_not_remind.is_(False),
    )
    if ids is not None:
        query = query.where(Receivable.id.in_(ids))
    if customer is not None:
        query = query.where(Receivable.customer_id == customer.id)
    rows = session.scalars(query.order_by(Receivable.due_on, Receivable.id))
    return [i for i in rows if i.amount_open > 0]  # in Python: SQLite stores money as text
