"""Load plain decision facts from the store, set-based: one query per table, not per customer.

Reads go through Core on the session's connection: column rows need none of the ORM's loading.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunlin.db import same_org
from reminders.decide import CustomerFact, InvoiceFact
from reminders.models import REMINDER_STATUSES, Reminder, Task
from reminders.policy import THANK_YOU_STEP
from sync.models import Customer, Receivable, Source

CONTACT_COLUMNS = {
    "email": "email",
    "sms": "mobile",
    "wecom": "wecom_userid",
    "wechat": "wechat_openid",
    "dingtalk": "dingtalk_userid",
    "push": "push_token",
}


@dataclass(slots=True)
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
    """From a row of CUSTOMER_COLUMNS."""
    contacts = {}
    for channel, column in CONTACT_COLUMNS.items():
        address = getattr(c, column)
        if address:
            contacts[channel] = address
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


def done_steps(session: Session, org_id: int) -> dict[int, dict[str, date]]:
    """Occurrences already planned per pace-setting receivable, with the day they were planned
    (ledger rows and task-only steps)."""
    open_ids = select(Receivable.id).where(Receivable.org_id == org_id, Receivable.status == "open")
    done: dict[int, dict[str, date]] = {}
    ledger = session.connection().execute(
        select(Reminder.target_receivable_id, Reminder.step, Reminder.planned_on).where(
            Reminder.org_id == org_id, Reminder.target_receivable_id.in_(open_ids)
        )
    )
    for target, step, planned_on in ledger.all():
        done.setdefault(target, {})[step] = planned_on or date.min
    tasks = session.connection().execute(
        select(Task.receivable_id, Task.step, Task.planned_on).where(
            Task.org_id == org_id, Task.receivable_id.in_(open_ids), Task.step.is_not(None)
        )
    )
    for target, step, planned_on in tasks.all():
        done.setdefault(target, {}).setdefault(step, planned_on or date.min)
    return done


# Every message planned, on its way or gone (receipts move `sent` on to delivered, read, ...).
CAPPED_STATUSES = tuple(
    s for s in REMINDER_STATUSES if s not in ("failed", "cancelled", "suppressed")
)


def cap_usage(
    session: Session, org_id: int, since: datetime
) -> Iterator[tuple[int, int, str, datetime]]:
    """(customer, target, step, scheduled_at) of messages that count against frequency caps."""
    rows = session.connection().execute(
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
            Reminder.step != THANK_YOU_STEP,  # thanks are not reminders
        )
        .distinct()
    )
    yield from rows.tuples().all()


def stream_groups(
    session: Session, org_id: int, customer_id: int | None = None
) -> Iterator[tuple[int, str, list[Any]]]:
    """(customer id, currency, rows of INVOICE_COLUMNS) for every group (or one customer's),
    from one streamed SELECT of the receivables alone — the planner's first pass, before it
    knows which customers it needs. Rows carry InvoiceFact's attribute names."""
    where = [Receivable.org_id == org_id, Receivable.status == "open"]
    if customer_id is not None:
        where.append(Receivable.customer_id == customer_id)
    rows = session.connection().execute(
        select(*INVOICE_COLUMNS)
        .where(*where)
        .order_by(Receivable.customer_id, Receivable.currency, Receivable.due_on, Receivable.id)
        .execution_options(yield_per=5000)
    )
    for (customer_id, currency), group in groupby(rows, key=lambda r: (r[0], r[3])):
        yield customer_id, currency, list(group)


def invoice_facts(rows: Iterable[Any]) -> list[InvoiceFact]:
    """InvoiceFacts from rows of INVOICE_COLUMNS (built only for groups the planner decides)."""
    return [InvoiceFact(*r[1:]) for r in rows]


def load_customers(session: Session, org_id: int, ids: list[int]) -> dict[int, CustomerInfo]:
    """Customer facts for the given ids (the planner's candidates), in chunks of 1,000."""
    sources = dict(
        session.execute(select(Source.id, Source.name).where(Source.org_id == org_id))
        .tuples()
        .all()
    )
    found: dict[int, CustomerInfo] = {}
    unique = sorted(set(ids))
    for start in range(0, len(unique), 1000):
        rows = session.connection().execute(
            select(*CUSTOMER_COLUMNS).where(
                same_org(Customer.org_id, org_id), Customer.id.in_(unique[start : start + 1000])
            )
        )
        for row in rows.all():
            found[row.id] = customer_info(row, sources.get(row.source_id))
    return found
