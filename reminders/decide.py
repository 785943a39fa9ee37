"""The pure decision core: given plain facts about one customer × currency group, which step is
due today, on which channel, about which invoices — or why nothing is.

No I/O and no clock: `today` is an argument. The planner and `dunlin explain` both call this.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from reminders.policy import Policy, Step, Track


@dataclass(frozen=True)
class InvoiceFact:
    id: int
    number: str
    currency: str
    due_on: date
    amount_open: Decimal
    status: str = "open"
    do_not_remind: bool = False

    @property
    def remindable(self) -> bool:
        return self.status == "open" and not self.do_not_remind and self.amount_open > 0


@dataclass(frozen=True)
class CustomerFact:
    id: int
    tier: str = "B"
    contacts: dict[str, str] = field(default_factory=dict)  # channel → address
    channel_preferences: tuple[str, ...] = ()
    opted_out: frozenset[str] = frozenset()
    do_not_remind: bool = False
    paused_until: date | None = None


@dataclass(frozen=True)
class Decision:
    track: Track
    step: Step
    target: InvoiceFact  # the pace-setter: oldest open invoice of the group
    invoices: tuple[InvoiceFact, ...]
    total: Decimal
    days_overdue: int
    channel: str | None  # None: the step only creates a task (no reachable channel)
    recipient: str | None
    reason: str

    @property
    def currency(self) -> str:
        return self.target.currency


@dataclass(frozen=True)
class Skip:
    reason: str


def choose_track(policy: Policy, customer: CustomerFact) -> Track | None:
    for track in policy.tracks:
        if track.tiers is None or customer.tier in track.tiers:
            return track
    return None


def due_step(track: Track, days_overdue: int) -> Step | None:
    """The highest step whose time has come (catch-up: never the ones it skipped)."""
    due = [s for s in track.steps if s.offset_days <= days_overdue]
    return due[-1] if due else None


def choose_channel(step: Step, customer: CustomerFact) -> tuple[str, str] | None:
    """Preferred channels first, then the step's order; skip unreachable and opted-out ones."""
    preferred = [c for c in customer.channel_preferences if c in step.channels]
    ordered = preferred + [c for c in step.channels if c not in preferred]
    for channel in ordered:
        address = customer.contacts.get(channel)
        if address and channel not in customer.opted_out:
            return channel, address
    return None


def lead_days(track: Track) -> int:
    """How far ahead of due an invoice is listed (the earliest pre-due step)."""
    return max(0, -track.steps[0].offset_days)


def decide(
    policy: Policy,
    customer: CustomerFact,
    invoices: Iterable[InvoiceFact],
    today: date,
    done_steps: Mapping[int, AbstractSet[str]] | None = None,
) -> Decision | Skip:
    """Decide for one customer × currency group.

    `done_steps` maps a receivable id to the steps already planned with it as pace-setter.
    """
    if customer.do_not_remind:
        return Skip("customer is marked do-not-remind / 客户设置为不提醒")
    if customer.paused_until is not None and today <= customer.paused_until:
        return Skip(f"customer paused until {customer.paused_until.isoformat()} / 客户暂停提醒")
    open_invoices = sorted((i for i in invoices if i.remindable), key=lambda i: (i.due_on, i.id))
    if not open_invoices:
        return Skip("nothing open to remind about / 没有待催收的应收")
    track = choose_track(policy, customer)
    if track is None:
        return Skip(f"no track matches tier {customer.tier} / 没有匹配的催收方案")
    target = open_invoices[0]
    days = (today - target.due_on).days
    step = due_step(track, days)
    if step is None:
        first = track.steps[0].offset_days
        return Skip(
            f"no step due: oldest invoice {target.number} is at day {days:+d}, "
            f"first step at {first:+d} / 尚未到第一个催收节点"
        )
    index = [s.name for s in track.steps].index(step.name)
    done = (done_steps or {}).get(target.id, frozenset())
    if any(s.name in done for s in track.steps[index:]):
        return Skip(
            f"step {step.name} (or a later one) already planned for {target.number} / 该节点已安排"
        )
    horizon = today.toordinal() + lead_days(track)
    listed = tuple(i for i in open_invoices if i.due_on.toordinal() <= horizon)
    total = sum((i.amount_open for i in listed), Decimal(0))
    minimum = policy.min_open_amount.get(target.currency, Decimal(0))
    if total < minimum:
        return Skip(
            f"open amount {total} {target.currency} is below the minimum {minimum} / 金额低于下限"
        )
    picked = choose_channel(step, customer)
    if picked is None and step.task is None:
        return Skip(f"no reachable channel among {', '.join(step.channels)} / 没有可用的渠道")
    channel, recipient = picked if picked else (None, None)
    reason = (
        f"{track.name}/{step.name}: oldest open invoice {target.number} is at day {days:+d} "
        f"(step at {step.offset_days:+d}); {len(listed)} invoice(s), {total} {target.currency}"
    )
    return Decision(track, step, target, listed, total, days, channel, recipient, reason)
