"""The context a reminder to one customer would be rendered with today, for previews."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunlin.models import Org
from reminders.core.zones import customer_zone
from reminders.sending.guard import local_today, message_context
from sync.models import Customer, Receivable


def preview_context(session: Session, org: Org, customer: Customer) -> dict[str, Any] | None:
    """The oldest currency group of the customer's open invoices; None when nothing is open."""
    invoices = [
        i
        for i in session.scalars(
            select(Receivable)
            .where(
                Receivable.org_id == org.id,
                Receivable.customer_id == customer.id,
                Receivable.status == "open",
            )
            .order_by(Receivable.due_on, Receivable.id)
        )
        if i.amount_open > 0
    ]
    if not invoices:
        return None
    currency = invoices[0].currency
    today = local_today(datetime.now(UTC), customer_zone(customer.timezone, org.timezone))
    same = [i for i in invoices if i.currency == currency]
    return message_context(org, customer, same, currency, "friendly", today)
