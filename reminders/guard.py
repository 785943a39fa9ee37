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

from dunlin.models import Org
from reminders.models import Reminder, Task
from sync.models import Customer, Receivable


@dataclass(frozen=True)
class Cancel:
    reason: str


@dataclass(frozen=True)
class Proceed:
    locale_wanted: str | None
    context: dict[str, Any]


def local_today(now: datetime, tz_name: str) -> date:
    return now.astimezone(ZoneInfo(tz_name)).date()


def check(session: Session, org: Org, reminder: Reminder, now: datetime) -> Cancel | Proceed:
    customer = session.scalar(
        select(Customer).where(Customer.org_id == org.id, Customer.id == reminder.customer_id)
    )
    if customer is None:
        return Cancel("customer no longer exists")
    today = local_today(now, customer.timezone or org.timezone)
    if customer.do_not_remind:
        return Cancel("customer is marked do-not-remind")
    if customer.paused_until is not None and today <= customer.paused_until:
        return Cancel(f"customer paused until {customer.paused_until.isoformat()}")
    if reminder.channel in (customer.opted_out_channels or []):
        return Cancel(f"customer opted out of {reminder.channel}")
    veto_key = "veto:" + reminder.idempotency_key.rsplit(":", 1)[0]
    veto = session.scalar(
        select(Task.status).where(Task.org_id == org.id, Task.idempotency_key == veto_key)
    )
    if veto == "vetoed":
        return Cancel("vetoed by the salesperson during the review window")
    invoices = session.scalars(
        select(Receivable)
        .where(
            Receivable.org_id == org.id,
            Receivable.id.in_(reminder.receivable_ids),
            Receivable.status == "open",
            Receivable.do_not_remind.is_(False),
        )
        .order_by(Receivable.due_on, Receivable.id)
    ).all()
    invoices = [i for i in invoices if i.amount_open > 0]
    if not any(i.id == reminder.target_receivable_id for i in invoices):
        return Cancel("the invoice that set the pace is no longer owed")
    total = sum((i.amount_open for i in invoices), Decimal(0))
    oldest = invoices[0]
    context = {
        "org": {"name": org.name},
        "customer": {"name": customer.name, "external_id": customer.external_id},
        "salesperson_name": customer.salesperson_name,
        "tone": reminder.tone,
        "currency": reminder.currency,
        "total": total,
        "days_overdue": max(0, (today - oldest.due_on).days),
        "payment_url": oldest.payment_url,
        "self_service_url": None,
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
    return Proceed(customer.language, context)
