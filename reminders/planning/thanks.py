"""Thank-you messages: once an invoice Dunlin reminded about is paid, one courteous message
(the policy's `thank_you` section; off when it is absent).

Planned by each planner run, not by the payment webhook: the webhook answers within Odoo's
1-second budget, and a thank-you belongs in the policy's send windows anyway. The ledger row's
key (`r<invoice>:thank-you`) makes it once per invoice whatever path marked it paid (webhook,
push, sync, reconciliation). The dispatcher's last check sends it only while the invoice is
still paid (guard.py), and caps and settled-invoice cancellation leave it alone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunlin.bulk import insert_ignoring_conflicts
from dunlin.db import utcnow
from dunlin.models import Org
from reminders.core.decide import usable_groups
from reminders.core.keys import base_key
from reminders.core.policy import THANK_YOU_STEP, ThankYou
from reminders.core.statuses import PLANNED, PROGRESS
from reminders.models import Reminder
from reminders.planning.facts import CustomerInfo, load_customers
from sync.models import Receivable

REMINDED = PROGRESS  # the message left


def plan_thanks(
    session: Session,
    org: Org,
    policy_label: str,
    thank_you: ThankYou,
    today: date,
    send_time: Callable[[CustomerInfo, str], datetime],
) -> int:
    """Insert a thank-you row for each paid invoice reminded within the window and not yet
    thanked; returns how many were added. `send_time(customer, key)` places it in a window."""
    since = utcnow() - timedelta(days=thank_you.reminded_within_days)
    reminded = select(Reminder.target_receivable_id).where(
        Reminder.org_id == org.id,
        Reminder.status.in_(REMINDED),
        Reminder.sent_at >= since,
        Reminder.step != THANK_YOU_STEP,
    )
    thanked = select(Reminder.target_receivable_id).where(
        Reminder.org_id == org.id, Reminder.step == THANK_YOU_STEP
    )
    paid = session.execute(
        select(Receivable).where(
            Receivable.org_id == org.id,
            Receivable.status == "paid",
            Receivable.id.in_(reminded),
            Receivable.id.not_in(thanked),
        )
    ).scalars()
    invoices = list(paid)
    if not invoices:
        return 0
    customers = load_customers(session, org.id, [i.customer_id for i in invoices])
    step = thank_you.as_step()
    rows = []
    for invoice in invoices:
        customer = customers.get(invoice.customer_id)
        if customer is None or customer.fact.do_not_remind:
            continue
        pairs = [pair for group in usable_groups(step, customer.fact) for pair in group]
        if not pairs:
            continue
        key = base_key(invoice.id, THANK_YOU_STEP)
        when = send_time(customer, key)
        rows.append(_row(org, policy_label, today, invoice, pairs, key, when, step.template))
    return insert_ignoring_conflicts(
        session, Reminder.__table__, rows, key=("org_id", "idempotency_key")
    )


def _row(
    org: Org,
    policy_label: str,
    today: date,
    invoice: Receivable,
    pairs: list[tuple[str, str]],
    key: str,
    when: datetime,
    template: str,
) -> dict[str, Any]:
    """One message on the first usable channel; the others are its fallbacks, in order."""
    (channel, address), rest = pairs[0], pairs[1:]
    now = utcnow()
    return {
        "org_id": org.id,
        "customer_id": invoice.customer_id,
        "target_receivable_id": invoice.id,
        "receivable_ids": [invoice.id],
        "idempotency_key": key,
        "policy": policy_label,
        "track": THANK_YOU_STEP,
        "step": THANK_YOU_STEP,
        "channel": channel,
        "template": template,
        "tone": "courtesy",
        "recipient": address,
        "currency": invoice.currency,
        "amount_open": invoice.amount_total,
        "status": PLANNED,
        "reason": "paid after a reminder",
        "planned_on": today,
        "scheduled_at": when,
        "attempts": 0,
        "fallbacks": [[list(pair)] for pair in rest],
        "created_at": now,
        "updated_at": now,
    }
