"""The last check before a message leaves: is the money still owed, may we still ask?

Runs inside the claiming transaction (ARCHITECTURE invariant 2) and builds the render context
from the current rows, so a message never lists an invoice paid since it was planned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunlin.db import same_org
from dunlin.models import Org
from reminders.core.keys import base_of, veto_key
from reminders.core.policy import THANK_YOU_STEP
from reminders.core.zones import customer_zone
from reminders.models import Reminder, Task
from sync.models import Customer, Receivable

LINK_KEYS = ("self_service_url", "click_url", "unsubscribe_url", "short_url")


@dataclass(frozen=True)
class Cancel:
    reason: str


@dataclass(frozen=True)
class Proceed:
    locale_wanted: str | None
    context: dict[str, Any]


def local_today(now: datetime, tz_name: str) -> date:
    return now.astimezone(ZoneInfo(tz_name)).date()


def check_many(
    session: Session, org: Org, reminders: list[Reminder], now: datetime
) -> dict[int, Cancel | Proceed]:
    """The verdict for each claimed row, with three queries for the whole batch."""
    if not reminders:
        return {}
    customers = {
        c.id: c
        for c in session.scalars(
            select(Customer).where(
                same_org(Customer.org_id, org.id),
                Customer.id.in_({r.customer_id for r in reminders}),
            )
        )
    }
    veto_keys = {r.id: veto_key(base_of(r.idempotency_key)) for r in reminders}
    vetoed = set(
        session.scalars(
            select(Task.idempotency_key).where(
                Task.org_id == org.id,
                Task.idempotency_key.in_(set(veto_keys.values())),
                Task.status == "vetoed",
            )
        )
    )
    wanted = {i for r in reminders for i in r.receivable_ids}
    open_invoices = {
        i.id: i
        for i in session.scalars(
            select(Receivable).where(
                same_org(Receivable.org_id, org.id),
                Receivable.id.in_(wanted),
                Receivable.status == "open",
                Receivable.do_not_remind.is_(False),
            )
        )
        if i.amount_open > 0  # in Python: SQLite stores money as text
    }
    thanks = {r.id for r in reminders if r.step == THANK_YOU_STEP}
    paid = _paid(session, org, {r.target_receivable_id for r in reminders if r.id in thanks})
    return {
        r.id: _thanks_verdict(org, r, customers.get(r.customer_id), paid, now)
        if r.id in thanks
        else _verdict(
            org, r, customers.get(r.customer_id), veto_keys[r.id] in vetoed, open_invoices, now
        )
        for r in reminders
    }


def _paid(session: Session, org: Org, ids: set[int]) -> dict[int, Receivable]:
    if not ids:
        return {}
    query = select(Receivable).where(
        same_org(Receivable.org_id, org.id), Receivable.id.in_(ids), Receivable.status == "paid"
    )
    return {i.id: i for i in session.scalars(query)}


def _thanks_verdict(
    org: Org,
    reminder: Reminder,
    customer: Customer | None,
    paid: dict[int, Receivable],
    now: datetime,
) -> Cancel | Proceed:
    """A thank-you goes only while its invoice is still paid (a bounced payment reopens it)."""
    if customer is None:
        return Cancel("customer no longer exists")
    if customer.do_not_remind:
        return Cancel("customer is marked do-not-remind")
    if reminder.channel in (customer.opted_out_channels or []):
        return Cancel(f"customer opted out of {reminder.channel}")
    invoice = paid.get(reminder.target_receivable_id)
    if invoice is None:
        return Cancel("the invoice is no longer paid")
    today = local_today(now, customer_zone(customer.timezone, org.timezone))
    context = message_context(org, customer, [invoice], reminder.currency, "courtesy", today)
    context["total"] = invoice.amount_total
    return Proceed(customer.language, context)


def _verdict(
    org: Org,
    reminder: Reminder,
    customer: Customer | None,
    vetoed: bool,
    open_invoices: dict[int, Receivable],
    now: datetime,
) -> Cancel | Proceed:
    if customer is None:
        return Cancel("customer no longer exists")
    today = local_today(now, customer_zone(customer.timezone, org.timezone))
    if customer.do_not_remind:
        return Cancel("customer is marked do-not-remind")
    if customer.paused_until is not None and today <= customer.paused_until:
        return Cancel(f"customer paused until {customer.paused_until.isoformat()}")
    if reminder.channel in (customer.opted_out_channels or []):
        return Cancel(f"customer opted out of {reminder.channel}")
    if vetoed:
        return Cancel("vetoed by the salesperson during the review window")
    invoices = sorted(
        (open_invoices[i] for i in reminder.receivable_ids if i in open_invoices),
        key=lambda i: (i.due_on, i.id),
    )
    if not any(i.id == reminder.target_receivable_id for i in invoices):
        return Cancel("the invoice that set the pace is no longer owed")
    context = message_context(org, customer, invoices, reminder.currency, reminder.tone, today)
    return Proceed(customer.language, context)


def message_context(
    org: Org,
    customer: Customer,
    invoices: list[Receivable],
    currency: str,
    tone: str,
    today: date,
) -> dict[str, Any]:
    """What templates see: the customer, the invoices still owed (oldest first), totals."""
    total = sum((i.amount_open for i in invoices), Decimal(0))
    oldest = invoices[0]
    overdue = sum(1 for i in invoices if i.due_on < today)
    context = {
        "org": {"name": org.name},
        "customer": {"name": customer.name, "external_id": customer.external_id},
        "salesperson_name": customer.salesperson_name,
        "tone": tone,
        "currency": currency,
        "total": total,
        "days_overdue": max(0, (today - oldest.due_on).days),
        "payment_url": oldest.payment_url,
        # the list's mix, so a subject says "due soon", "overdue" or both truthfully
        "overdue_count": overdue,
        "due_soon_count": len(invoices) - overdue,
        # filled by the dispatcher when DUNLIN_PUBLIC_URL is set (reminders/sending/links.py)
        **dict.fromkeys(LINK_KEYS),
        "invoices": [
            {
                "number": i.number,
                "amount_open": i.amount_open,
                "amount_total": i.amount_total,
                "due_on": i.due_on,
                "issued_on": i.issued_on,
                "days_overdue": (today - i.due_on).days,
            }
            for i in invoices
        ],
    }
    return context
