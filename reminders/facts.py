"""Load plain decision facts from the store, set-based: one query per table, not per customer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from reminders.decide import CustomerFact, InvoiceFact
from reminders.models import Reminder, Task
from sync.models import Customer, Receivable, Source

CONTACT_COLUMNS = {
    "email": "email",
    "sms": "mobile",
    "wecom": "wecom_userid",
    "wechat": "wechat_openid",
    "dingtalk": "dingtalk_userid",
    "push": "push_token",
}


@dataclass(frozen=True)
class CustomerInfo:
    """What rendering and scheduling need beyond the decision facts."""

    fact: CustomerFact
    external_id: str
    name: str
    language: str | None
    timezone: str | None
    salesperson_ref: str | None
    salesperson_name: str | None


CUSTOMER_COLUMNS = (
    Customer.id,
    Customer.external_id,
    Customer.name,
    Customer.tier,
    Customer.language,
    Customer.timezone,
    Customer.salesperson_ref,
    Customer.salesperson_name,
    Customer.channel_preferences,
    Customer.opted_out_channels,
    Customer.do_not_remind,
    Customer.paused_until,
    Customer.tags,
    Customer.source_id,
    *(getattr(Customer, column) for column in CONTACT_COLUMNS.values()),
)
INVOICE_COLUMNS = (
    Receivable.customer_id,
    Receivable.id,
    Receivable.number,
    Receivable.currency,
    Receivable.due_on,
    Receivable.amount_open,
    Receivable.status,
    Receivable.do_not_remind,
)


def customer_info(c: Any, source: str | None = None) -> CustomerInfo:
    """From a Customer entity or a row of CUSTOMER_COLUMNS (same attribute names)."""
    contacts = {ch: getattr(c, col) for ch, col in CONTACT_COLUMNS.items() if getattr(c, col)}
    fact = CustomerFact(
        id=c.id,
        tier=c.tier,
        contacts=contacts,
        channel_preferences=tuple(c.channel_preferences or ()),
        opted_out=frozenset(c.opted_out_channels or ()),
        do_not_remind=c.do_not_remind,
        paused_until=c.paused_until,
        tags=frozenset(c.tags or ()),
        source=source,
    )
    return CustomerInfo(
        fact, c.external_id, c.name, c.language, c.timezone, c.salesperson_ref, c.salesperson_name
    )


def load_groups(
    session: Session, org_id: int, customer_id: int | None = None
) -> Iterator[tuple[CustomerInfo, str, list[InvoiceFact]]]:
    """Yield (customer, currency, open invoices) for every group with something open.

    Two queries over plain column rows (no ORM entities), streamed in customer order.
    """
    where = [Receivable.org_id == org_id, Receivable.status == "open"]
    if customer_id is not None:
        where.append(Receivable.customer_id == customer_id)
    with_open = select(Receivable.customer_id).where(*where)
    sources = dict(
        session.execute(select(Source.id, Source.name).where(Source.org_id == org_id))
        .tuples()
        .all()
    )
    customers = {
        row.id: customer_info(row, sources.get(row.source_id))
        for row in session.execute(
            select(*CUSTOMER_COLUMNS).where(Customer.org_id == org_id, Customer.id.in_(with_open))
        )
    }
    rows = session.execute(
        select(*INVOICE_COLUMNS)
        .where(*where)
        .order_by(Receivable.customer_id, Receivable.currency, Receivable.due_on, Receivable.id)
        .execution_options(yield_per=5000)
    )
    for (cust_id, currency), group in groupby(rows, key=lambda r: (r.customer_id, r.currency)):
        invoices = [
            InvoiceFact(
                r.id, r.number, r.currency, r.due_on, r.amount_open, r.status, r.do_not_remind
            )
            for r in group
        ]
        yield customers[cust_id], currency, invoices


def done_steps(session: Session, org_id: int) -> dict[int, dict[str, date]]:
    """Occurrences already planned per pace-setting receivable, with the day they were planned
    (ledger rows and task-only steps)."""
    open_ids = select(Receivable.id).where(Receivable.org_id == org_id, Receivable.status == "open")
    done: dict[int, dict[str, date]] = {}
    for target, step, planned_on, created_at in session.execute(
        select(
            Reminder.target_receivable_id, Reminder.step, Reminder.planned_on, Reminder.created_at
        ).where(Reminder.org_id == org_id, Reminder.target_receivable_id.in_(open_ids))
    ):
        done.setdefault(target, {})[step] = planned_on or created_at.date()
    for target, data, created_at in session.execute(
        select(Task.receivable_id, Task.data, Task.created_at).where(
            Task.org_id == org_id, Task.receivable_id.in_(open_ids)
        )
    ):
        if target is not None and data.get("step"):
            planned = data.get("planned_on")
            day = date.fromisoformat(planned) if planned else created_at.date()
            done.setdefault(target, {}).setdefault(data["step"], day)
    return done


CAPPED_STATUSES = ("planned", "sending", "sent", "uncertain")


def cap_usage(
    session: Session, org_id: int, since: datetime
) -> Iterator[tuple[int, int, str, datetime]]:
    """(customer, target, step, scheduled_at) of messages that count against frequency caps."""
    rows = session.execute(
        select(
            Reminder.customer_id,
            Reminder.target_receivable_id,
            Reminder.step,
            Reminder.scheduled_at,
        )
        .where(
            Reminder.org_id == org_id,
            Reminder.status.in_(CAPPED_STATUSES),
            Reminder.scheduled_at >= since,
        )
        .distinct()
    )
    yield from rows.tuples()
