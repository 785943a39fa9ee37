"""Customers, receivables, reminders (with a timeline per customer), tasks and events.

Sales users see only the customers whose salesperson they are, and what hangs off them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from dunlin.db import transaction
from dunlin.events import record_event
from dunlin.models import Event, Org
from reminders.customer_actions import pause, resume
from reminders.models import Reminder, Task
from reminders.status import Money, status_summary
from sync.customers import named
from sync.models import Customer, Receivable
from usecases.writeback import mask_recipient
from webhooks.api import bp
from webhooks.api import schemas as s
from webhooks.api.auth import Principal
from webhooks.api.common import owned, page, sales_customers
from webhooks.api.spec import operation
from webhooks.edge import dunlin_app

STAFF = ("admin", "finance")


def _scoped(model: Any, p: Principal) -> Any:
    query = select(model).where(model.org_id == p.org_id)
    mine = sales_customers(p)
    if mine is not None:
        query = query.where((model.id if model is Customer else model.customer_id).in_(mine))
    return query


def _customer(c: Customer) -> s.CustomerOut:
    return s.CustomerOut.model_validate(c, from_attributes=True)


def _receivable(r: Receivable) -> s.ReceivableOut:
    return s.ReceivableOut(
        id=r.id,
        customer_id=r.customer_id,
        source_id=r.source_id,
        external_id=r.external_id,
        number=r.number,
        currency=r.currency,
        amount_total=str(r.amount_total),
        amount_open=str(r.amount_open),
        issued_on=r.issued_on,
        due_on=r.due_on,
        status=r.status,
    )


def _reminder(r: Reminder) -> s.ReminderOut:
    return s.ReminderOut(
        id=r.id,
        customer_id=r.customer_id,
        target_receivable_id=r.target_receivable_id,
        step=r.step,
        channel=r.channel,
        template=r.template,
        recipient=mask_recipient(r.recipient),
        currency=r.currency,
        amount_open=str(r.amount_open),
        status=r.status,
        reason=r.reason,
        error=r.error,
        scheduled_at=r.scheduled_at,
        sent_at=r.sent_at,
        delivered_at=r.delivered_at,
        attempts=r.attempts,
    )


def _event(e: Event) -> s.EventOut:
    return s.EventOut.model_validate(e, from_attributes=True)


def _task(t: Task) -> s.TaskOut:
    return s.TaskOut.model_validate(t, from_attributes=True)


@operation(
    bp,
    "GET",
    "/customers",
    "List customers",
    tag="customers",
    query=s.CustomerQuery,
    response=s.CustomerList,
)
def list_customers(p: Principal, query: s.CustomerQuery) -> s.CustomerList:
    q = _scoped(Customer, p)
    if query.q:
        like = f"%{query.q}%"
        q = q.where(or_(Customer.name.like(like), Customer.external_id.like(like)))
    if query.ref:
        q = q.where(named(query.ref))
    if query.tier:
        q = q.where(Customer.tier == query.tier)
    with dunlin_app().factory() as db:
        rows, nxt = page(db, q, Customer, query.after, query.limit)
        return s.CustomerList(items=[_customer(c) for c in rows], next_after=nxt)


@operation(
    bp,
    "GET",
    "/customers/<int:customer_id>",
    "One customer",
    tag="customers",
    response=s.CustomerOut,
)
def get_customer(p: Principal, customer_id: int) -> s.CustomerOut:
    with dunlin_app().factory() as db:
        return _customer(owned(db, Customer, customer_id, p))


@operation(
    bp,
    "PATCH",
    "/customers/<int:customer_id>",
    "Pause, re-tier or opt a customer out",
    tag="customers",
    roles=STAFF,
    body=s.CustomerPatch,
    response=s.CustomerOut,
)
def patch_customer(p: Principal, customer_id: int, body: s.CustomerPatch) -> s.CustomerOut:
    with transaction(dunlin_app().factory) as db:
        customer = owned(db, Customer, customer_id, p)
        changes = body.model_dump(exclude_unset=True)
        if "paused_until" in changes:  # the one way to pause, with its own event
            until = changes.pop("paused_until")
            if until is None:
                resume(db, customer, actor=p.actor)
            else:
                pause(db, customer, until, "other", actor=p.actor)
        for key, value in changes.items():
            if value is not None:
                setattr(customer, key, value)
        if changes:
            record_event(
                db,
                p.org_id,
                "customer.changed",
                ", ".join(sorted(changes)),
                subject=("customer", customer.id),
                actor=p.actor,
            )
        return _customer(customer)


@operation(
    bp,
    "GET",
    "/customers/<int:customer_id>/timeline",
    "Everything about one customer: invoices, reminders, events",
    tag="customers",
    response=s.Timeline,
)
def timeline(p: Principal, customer_id: int) -> s.Timeline:
    with dunlin_app().factory() as db:
        customer = owned(db, Customer, customer_id, p)
        receivables = db.scalars(
            select(Receivable)
            .where(Receivable.org_id == p.org_id, Receivable.customer_id == customer.id)
            .order_by(Receivable.due_on, Receivable.id)
            .limit(500)
        ).all()
        reminders = db.scalars(
            select(Reminder)
            .where(Reminder.org_id == p.org_id, Reminder.customer_id == customer.id)
            .order_by(Reminder.scheduled_at.desc(), Reminder.id.desc())
            .limit(500)
        ).all()
        subjects = or_(
            (Event.subject_type == "customer") & (Event.subject_id == customer.id),
            (Event.subject_type == "receivable")
            & Event.subject_id.in_([r.id for r in receivables]),
            (Event.subject_type == "reminder") & Event.subject_id.in_([r.id for r in reminders]),
        )
        events = db.scalars(
            select(Event)
            .where(Event.org_id == p.org_id, subjects)
            .order_by(Event.id.desc())
            .limit(500)
        ).all()
        return s.Timeline(
            customer=_customer(customer),
            receivables=[_receivable(r) for r in receivables],
            reminders=[_reminder(r) for r in reminders],
            events=[_event(e) for e in events],
        )


@operation(
    bp,
    "GET",
    "/receivables",
    "List receivables",
    tag="receivables",
    query=s.ReceivableQuery,
    response=s.ReceivableList,
)
def list_receivables(p: Principal, query: s.ReceivableQuery) -> s.ReceivableList:
    q = _scoped(Receivable, p)
    if query.customer_id:
        q = q.where(Receivable.customer_id == query.customer_id)
    if query.status:
        q = q.where(Receivable.status == query.status)
    with dunlin_app().factory() as db:
        rows, nxt = page(db, q, Receivable, query.after, query.limit)
        return s.ReceivableList(items=[_receivable(r) for r in rows], next_after=nxt)


@operation(
    bp,
    "GET",
    "/receivables/<int:receivable_id>",
    "One receivable",
    tag="receivables",
    response=s.ReceivableOut,
)
def get_receivable(p: Principal, receivable_id: int) -> s.ReceivableOut:
    with dunlin_app().factory() as db:
        return _receivable(owned(db, Receivable, receivable_id, p))


@operation(
    bp,
    "GET",
    "/reminders",
    "List ledger rows (recipients masked)",
    tag="reminders",
    query=s.ReminderQuery,
    response=s.ReminderList,
)
def list_reminders(p: Principal, query: s.ReminderQuery) -> s.ReminderList:
    q = _scoped(Reminder, p)
    for column, value in (
        (Reminder.customer_id, query.customer_id),
        (Reminder.status, query.status),
        (Reminder.channel, query.channel),
    ):
        if value:
            q = q.where(column == value)
    with dunlin_app().factory() as db:
        rows, nxt = page(db, q, Reminder, query.after, query.limit)
        return s.ReminderList(items=[_reminder(r) for r in rows], next_after=nxt)


@operation(
    bp,
    "GET",
    "/reminders/<int:reminder_id>",
    "One ledger row",
    tag="reminders",
    response=s.ReminderOut,
)
def get_reminder(p: Principal, reminder_id: int) -> s.ReminderOut:
    with dunlin_app().factory() as db:
        return _reminder(owned(db, Reminder, reminder_id, p))


@operation(
    bp, "GET", "/tasks", "List follow-up tasks", tag="tasks", query=s.TaskQuery, response=s.TaskList
)
def list_tasks(p: Principal, query: s.TaskQuery) -> s.TaskList:
    q = _scoped(Task, p)
    if query.status:
        q = q.where(Task.status == query.status)
    if query.customer_id:
        q = q.where(Task.customer_id == query.customer_id)
    with dunlin_app().factory() as db:
        rows, nxt = page(db, q, Task, query.after, query.limit)
        return s.TaskList(items=[_task(t) for t in rows], next_after=nxt)


@operation(
    bp,
    "PATCH",
    "/tasks/<int:task_id>",
    "Close, veto or reopen a task",
    tag="tasks",
    body=s.TaskPatch,
    response=s.TaskOut,
)
def patch_task(p: Principal, task_id: int, body: s.TaskPatch) -> s.TaskOut:
    with transaction(dunlin_app().factory) as db:
        task = owned(db, Task, task_id, p)
        task.status = body.status
        record_event(
            db,
            p.org_id,
            f"task.{body.status}",
            task.summary[:200],
            subject=("task", task.id),
            actor=p.actor,
        )
        return _task(task)


@operation(
    bp,
    "GET",
    "/events",
    "The audit trail",
    tag="events",
    roles=STAFF,
    query=s.EventQuery,
    response=s.EventList,
)
def list_events(p: Principal, query: s.EventQuery) -> s.EventList:
    q = select(Event).where(Event.org_id == p.org_id)
    if query.kind:
        q = q.where(
            Event.kind.startswith(query.kind)
            if query.kind.endswith(".")
            else Event.kind == query.kind
        )
    if query.subject_type:
        q = q.where(Event.subject_type == query.subject_type)
    if query.subject_id:
        q = q.where(Event.subject_id == query.subject_id)
    with dunlin_app().factory() as db:
        rows, nxt = page(db, q, Event, query.after, query.limit)
        return s.EventList(items=[_event(e) for e in rows], next_after=nxt)


def _money(money: Money) -> s.MoneyOut:
    return s.MoneyOut(count=money.count, totals={c: str(a) for c, a in money.totals.items()})


@operation(
    bp,
    "GET",
    "/status",
    "The org at a glance: what `dunlin status` shows",
    tag="org",
    roles=STAFF,
    response=s.StatusOut,
)
def get_status(p: Principal) -> s.StatusOut:
    with dunlin_app().factory() as db:
        org = db.get(Org, p.org_id)
        assert org is not None
        summary = status_summary(db, org)
    return s.StatusOut(
        today=summary.today,
        sources=[
            s.SourceStatusOut(
                name=line.name,
                kind=line.kind,
                status=line.status,
                status_detail=line.status_detail,
                last_synced_at=line.last_synced_at,
            )
            for line in summary.sources
        ],
        open=_money(summary.open),
        overdue=_money(summary.overdue),
        reminders=summary.reminders,
        in_flight=summary.in_flight,
        open_tasks=summary.open_tasks,
        writebacks=summary.writebacks,
        policy=summary.policy,
        broken_channels=[
            s.BrokenChannelOut(name=b.name, provider=b.provider, reason=b.reason)
            for b in summary.broken_channels
        ],
        invalid_timezones=summary.invalid_timezones,
    )
