"""What a customer can do from the link in a reminder, and what each action sets off.

Every action is an event (the write-back turns it into a note in the source) and, where a
person must check something, a task for the customer's salesperson.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunlin.events import record_event
from dunlin.vocabulary import CHANNELS
from reminders.ledger import cancel_for_settled
from reminders.models import Task
from reminders.planning.facts import CONTACT_COLUMNS
from sync.models import Customer, Receivable


class ActionRefused(ValueError):
    """The action cannot be taken as asked (a date too far, an invoice not theirs)."""


@dataclass(frozen=True)
class Actor:
    """Who acted: the customer through a link, with the reminder the link came in."""

    customer: Customer
    reminder_id: int

    @property
    def name(self) -> str:
        return f"customer:{self.customer.id}"


def own_channels(customer: Customer) -> list[str]:
    """The channels this customer can be reminded on: those with a contact point, in the
    vocabulary's order (a webhook goes to the org's system, not to the customer)."""
    return [c for c in CHANNELS if c in CONTACT_COLUMNS and getattr(customer, CONTACT_COLUMNS[c])]


def open_invoices(session: Session, customer: Customer) -> list[Receivable]:
    return list(
        session.scalars(
            select(Receivable)
            .where(
                Receivable.org_id == customer.org_id,
                Receivable.customer_id == customer.id,
                Receivable.status == "open",
            )
            .order_by(Receivable.due_on, Receivable.id)
        )
    )


def _task(
    session: Session, actor: Actor, key: str, summary: str, due_on: date, receivable_id: int | None
) -> None:
    customer = actor.customer
    exists = session.scalar(
        select(Task.id).where(Task.org_id == customer.org_id, Task.idempotency_key == key)
    )
    if exists is None:
        session.add(
            Task(
                org_id=customer.org_id,
                customer_id=customer.id,
                receivable_id=receivable_id,
                idempotency_key=key,
                assignee=customer.salesperson_ref,
                summary=summary,
                due_on=due_on,
                data={"origin": "self_service", "reminder_id": actor.reminder_id},
            )
        )


def _follow_up(
    session: Session,
    actor: Actor,
    receivable_id: int | None,
    task: tuple[str, str, date],
    event: tuple[str, str, dict[str, str]],
    event_actor: str | None = None,
) -> None:
    """A task for the salesperson (key, summary, due) and the event (kind, summary, data)
    that says why, on the invoice, or on the customer when none is open."""
    key, summary, due_on = task
    _task(session, actor, key, summary, due_on, receivable_id)
    customer = actor.customer
    kind, what, data = event
    record_event(
        session,
        customer.org_id,
        kind,
        what,
        subject=("receivable", receivable_id) if receivable_id else ("customer", customer.id),
        actor=event_actor or actor.name,
        data=data,
    )


def _oldest_id(session: Session, customer: Customer) -> int | None:
    invoices = open_invoices(session, customer)
    return invoices[0].id if invoices else None


PAUSE_REASONS = ("promise", "snooze", "other")


def pause(
    session: Session,
    customer: Customer,
    until: date,
    reason: str,
    *,
    actor: str = "system",
    event: bool = True,
) -> None:
    """Reminders to the customer stop through `until` (the planner skips them, the send-time
    guard cancels what is queued). The event says why, with the pause it replaced; `event=False`
    when the caller records its own (a customer's promise, an "I have paid")."""
    before = customer.paused_until
    customer.paused_until = until
    if event:
        record_event(
            session,
            customer.org_id,
            f"customer.paused.{reason}",
            customer.name,
            subject=("customer", customer.id),
            actor=actor,
            data={"until": until.isoformat(), "before": before.isoformat() if before else None},
        )


def resume(session: Session, customer: Customer, *, actor: str = "system") -> None:
    """End a pause now: the next plan reminds the customer again."""
    before = customer.paused_until
    customer.paused_until = None
    record_event(
        session,
        customer.org_id,
        "customer.resumed",
        customer.name,
        subject=("customer", customer.id),
        actor=actor,
        data={"until": None, "before": before.isoformat() if before else None},
    )


def claim_paid(session: Session, actor: Actor, today: date, pause_days: int) -> date:
    """ "I have paid": reminders pause while finance checks; a task asks them to."""
    customer = actor.customer
    until = max(customer.paused_until or today, today + timedelta(days=pause_days))
    pause(session, customer, until, "claimed_paid", actor=actor.name, event=False)
    oldest = _oldest_id(session, customer)
    _follow_up(
        session,
        actor,
        oldest,
        (
            f"self:paid:{customer.id}:{today.isoformat()}",
            f"{customer.name} says they have paid: please verify / 客户称已付款，请核实",
            today + timedelta(days=1),
        ),
        (
            "customer.claimed_paid",
            f"{customer.name}: I have paid / 客户称已付款",
            {"paused_until": until.isoformat()},
        ),
    )
    return until


def promise(session: Session, actor: Actor, today: date, by: date, max_days: int) -> None:
    """ "I will pay by <date>": reminders pause until then; a broken promise resumes them and
    escalates (check_broken_promises)."""
    if not today < by <= today + timedelta(days=max_days):
        raise ActionRefused(
            f"the date must be after today and within {max_days} days / "
            f"日期须晚于今天且不超过 {max_days} 天"
        )
    customer = actor.customer
    pause(session, customer, by, "promise", actor=actor.name, event=False)
    customer.promised_on = by
    oldest = _oldest_id(session, customer)
    _follow_up(
        session,
        actor,
        oldest,
        (
            f"self:promise:{customer.id}:{today.isoformat()}",
            f"{customer.name} promised to pay by {by.isoformat()} / 客户承诺 {by.isoformat()} 前付款",
            by,
        ),
        (
            "customer.promised",
            f"{customer.name}: will pay by {by.isoformat()} / 承诺 {by.isoformat()} 前付款",
            {"promised_on": by.isoformat()},
        ),
    )


def dispute(
    session: Session, actor: Actor, today: date, receivable_id: int, reason: str
) -> Receivable:
    """The invoice leaves every reminder (a dispute survives re-sync) and goes to a person."""
    customer = actor.customer
    reason = reason.strip()[:1000]
    if not reason:
        raise ActionRefused("please give a reason / 请填写原因")
    invoice = session.scalar(
        select(Receivable).where(
            Receivable.org_id == customer.org_id,
            Receivable.customer_id == customer.id,
            Receivable.id == receivable_id,
            Receivable.status == "open",
        )
    )
    if invoice is None:
        raise ActionRefused("no such open invoice / 没有这张未结发票")
    invoice.status = "disputed"
    session.flush()
    cancel_for_settled(session, customer.org_id, invoice.source_id, [invoice.external_id])
    _follow_up(
        session,
        actor,
        invoice.id,
        (
            f"self:dispute:{invoice.id}",
            f"{customer.name} disputes {invoice.number}: {reason} / 客户对 {invoice.number} 有异议",
            today + timedelta(days=2),
        ),
        ("receivable.disputed", f"{invoice.number}: {reason}", {"reason": reason}),
    )
    return invoice


def set_channels(
    session: Session, actor: Actor, preferred: list[str], opted_out: list[str]
) -> None:
    unknown = sorted(set(preferred + opted_out) - set(CHANNELS))
    if unknown:
        raise ActionRefused(f"unknown channel(s) / 未知渠道: {', '.join(unknown)}")
    customer = actor.customer
    # The page lists the customer's own channels only: an opt-out it did not show (a channel
    # whose contact point has gone since) stays as it was.
    shown = set(own_channels(customer))
    kept = {c for c in customer.opted_out_channels or [] if c not in shown}
    customer.channel_preferences = [c for c in preferred if c not in opted_out]
    customer.opted_out_channels = sorted(kept | set(opted_out))
    record_event(
        session,
        customer.org_id,
        "customer.channels_changed",
        f"preferred {customer.channel_preferences}, opted out {customer.opted_out_channels}",
        subject=("customer", customer.id),
        actor=actor.name,
        data={"preferred": customer.channel_preferences, "opted_out": customer.opted_out_channels},
    )


def check_broken_promises(session: Session, org_id: int, today: date) -> int:
    """Promises whose date has passed with money still open: reminders have resumed (the pause
    ended with the promise), and the salesperson gets an escalation task."""
    customers = session.scalars(
        select(Customer).where(
            Customer.org_id == org_id,
            Customer.promised_on.is_not(None),
            Customer.promised_on < today,
        )
    ).all()
    broken = 0
    for customer in customers:
        promised = customer.promised_on
        customer.promised_on = None
        oldest = _oldest_id(session, customer)
        if oldest is None or promised is None:
            continue
        broken += 1
        actor = Actor(customer, 0)
        _follow_up(
            session,
            actor,
            oldest,
            (
                f"self:broken:{customer.id}:{promised.isoformat()}",
                f"{customer.name} did not pay by {promised.isoformat()} as promised: escalate / "
                f"客户未按承诺于 {promised.isoformat()} 前付款，请升级处理",
                today + timedelta(days=1),
            ),
            (
                "customer.promise_broken",
                f"{customer.name}: promise of {promised.isoformat()} broken / 承诺付款未兑现",
                {"promised_on": promised.isoformat()},
            ),
            event_actor="system",  # the planner noticed, not the customer
        )
    return broken
