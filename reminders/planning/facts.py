"""Load plain decision facts from the store, set-based: one query per table, not per customer.

Reads go through Core on the session's connection: column rows need none of the ORM's loading.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from itertools import groupby
from typing import Any

from sqlalchemy import Numeric, Select, Text, cast, func, select
from sqlalchemy.orm import Session

from dunlin.db import among_ids, same_org
from reminders.core.decide import CustomerFact, InvoiceFact
from reminders.core.policy import THANK_YOU_STEP
from reminders.core.statuses import CAPPED
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


def _as_text(column: Any) -> Any:
    """A JSON list column read as its text: customers share a handful of values ('[]',
    '["vip"]'), so each distinct text is decoded once (`_json_list`), not once per customer."""
    return cast(column, Text).label(column.key)


@lru_cache(maxsize=4096)
def _json_list(text: str | None) -> tuple[str, ...]:
    return tuple(json.loads(text) or ()) if text else ()


@lru_cache(maxsize=4096)
def _json_set(text: str | None) -> frozenset[str]:
    return frozenset(_json_list(text))


CUSTOMER_COLUMNS = (
    Customer.id,
    Customer.external_id,
    Customer.name,
    Customer.tier,
    Customer.language,
    Customer.timezone,
    Customer.salesperson_ref,
    Customer.salesperson_name,
    *(_as_text(c) for c in (Customer.channel_preferences, Customer.opted_out_channels)),
    Customer.do_not_remind,
    Customer.paused_until,
    _as_text(Customer.tags),
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
        channel_preferences=_json_list(c.channel_preferences),
        opted_out=_json_set(c.opted_out_channels),
        do_not_remind=c.do_not_remind,
        paused_until=c.paused_until,
        tags=_json_set(c.tags),
        source=source,
    )
    return CustomerInfo(
        fact, c.external_id, c.name, c.language, c.timezone, c.salesperson_ref, c.salesperson_name
    )


LOOKUP_CHUNK = 1000  # ids per IN (...) lookup: well inside every driver's parameter limit


def chunks(ids: Sequence[int], size: int | None = None) -> Iterator[Sequence[int]]:
    """`ids` in slices of `size` (default: LOOKUP_CHUNK, read when called)."""
    size = size or LOOKUP_CHUNK
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def done_steps(session: Session, org_id: int, targets: Sequence[int]) -> dict[int, dict[str, date]]:
    """Occurrences already planned for these pace-setting receivables, with the day each was
    planned (ledger rows and task-only steps). Looked up by id through the target indexes, so
    the cost follows the targets asked about, not the ledger's history."""
    done: dict[int, dict[str, date]] = {}
    conn = session.connection()
    dialect = conn.dialect.name
    for ids in chunks(targets):
        ledger = conn.execute(
            select(Reminder.target_receivable_id, Reminder.step, Reminder.planned_on).where(
                same_org(Reminder.org_id, org_id),
                among_ids(Reminder.target_receivable_id, ids, dialect),
            )
        )
        for target, step, planned_on in ledger.all():
            done.setdefault(target, {})[step] = planned_on or date.min
        tasks = conn.execute(
            select(Task.receivable_id, Task.step, Task.planned_on).where(
                same_org(Task.org_id, org_id),
                among_ids(Task.receivable_id, ids, dialect),
                Task.step.is_not(None),
            )
        )
        for target, step, planned_on in tasks.all():
            done.setdefault(target, {}).setdefault(step, planned_on or date.min)
    return done


# Every message planned, on its way or gone (receipts move `sent` on to delivered, read, ...).
CAPPED_STATUSES = CAPPED


def cap_usage(
    session: Session, org_id: int, since: datetime, customers: Sequence[int] | None = None
) -> Iterator[tuple[int, int, str, datetime]]:
    """(customer, target, step, scheduled_at) of messages that count against frequency caps,
    for the given customers (None: all of the org's)."""
    query = select(
        Reminder.customer_id,
        Reminder.target_receivable_id,
        Reminder.step,
        Reminder.scheduled_at,
    ).where(
        Reminder.status.in_(CAPPED_STATUSES),
        Reminder.scheduled_at >= since,
        Reminder.step != THANK_YOU_STEP,  # thanks are not reminders
    )
    conn = session.connection()
    dialect = conn.dialect.name
    if customers is None:
        yield from conn.execute(query.where(Reminder.org_id == org_id).distinct()).tuples().all()
        return
    for ids in chunks(customers):  # found by customer, the org only checked
        by_customer = query.where(
            same_org(Reminder.org_id, org_id), among_ids(Reminder.customer_id, ids, dialect)
        )
        yield from conn.execute(by_customer.distinct()).tuples()


def _open_receivables(org_id: int) -> list[Any]:
    return [Receivable.org_id == org_id, Receivable.status == "open"]


def stream_groups(
    session: Session, org_id: int, customers: Sequence[int] | None = None
) -> Iterator[tuple[int, str, list[Any]]]:
    """(customer id, currency, rows of INVOICE_COLUMNS) for every group of the given customers
    (None: all of the org's), from one streamed SELECT of the receivables alone, each group in
    pace order (due date, id). Rows carry InvoiceFact's attribute names."""
    conn = session.connection()
    where = _open_receivables(org_id)
    if customers is not None:  # a chunk of the planner's candidates, or one customer
        where.append(among_ids(Receivable.customer_id, customers, conn.dialect.name))
    rows = conn.execute(
        select(*INVOICE_COLUMNS)
        .where(*where)
        .order_by(Receivable.customer_id, Receivable.currency, Receivable.due_on, Receivable.id)
        .execution_options(yield_per=5000)
    )
    for (customer_id, currency), group in groupby(rows, key=lambda r: (r[0], r[3])):
        yield customer_id, currency, list(group)


def pace_setters(session: Session, org_id: int) -> Iterator[Any]:
    """Each customer × currency group's pace-setter — its first remindable receivable in pace
    order — as a row of INVOICE_COLUMNS, in (customer, currency) order. The database picks it,
    so the planner's first pass gets one row per group instead of every receivable."""
    remindable = [
        *_open_receivables(org_id),
        Receivable.do_not_remind.is_(False),
        cast(Receivable.amount_open, Numeric) > 0,  # Money is text on SQLite
    ]
    group = (Receivable.customer_id, Receivable.currency)
    query: Select[Any]
    if session.get_bind().dialect.name == "postgresql":
        query = (
            select(*INVOICE_COLUMNS)
            .where(*remindable)
            .distinct(*group)
            .order_by(*group, Receivable.due_on, Receivable.id)
        )
    else:
        # SQLite's documented bare-column rule: with a single min(), the other columns come
        # from the row holding the minimum. ISO dates and zero-padded ids sort as (due, id).
        pace_key = func.min(func.printf("%s%019d", Receivable.due_on, Receivable.id))
        query = (
            select(*INVOICE_COLUMNS, pace_key).where(*remindable).group_by(*group).order_by(*group)
        )
    yield from session.connection().execute(query.execution_options(yield_per=5000))


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
    conn = session.connection()
    for chunk in chunks(sorted(set(ids))):
        rows = conn.execute(
            select(*CUSTOMER_COLUMNS).where(
                same_org(Customer.org_id, org_id),
                among_ids(Customer.id, chunk, conn.dialect.name),
            )
        )
        for row in rows.all():
            found[row.id] = customer_info(row, sources.get(row.source_id))
    return found
