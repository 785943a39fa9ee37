"""The pure decision core: given plain facts about one customer × currency group, which step is
due today, on which channels, about which invoices — or why nothing is.

No I/O and no clock: `today`, the calendar and what was already planned are arguments. The
planner and `dunlin explain` both call `decide`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any, NamedTuple

from reminders.core.policy import Policy, Step, Track
from reminders.core.schedule import WorkCalendar

Done = Mapping[int, Mapping[str, date]]  # pace-setting receivable → {occurrence: planned on}


_PACE_ORDER = attrgetter("due_on", "id")
InvoiceLike = Any  # an InvoiceFact, or a row with its attribute names


class InvoiceFact(NamedTuple):
    """A NamedTuple: a million of these are built per planning run, and tuples build fastest."""

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


@dataclass(slots=True)
class CustomerFact:
    id: int
    tier: str = "B"
    contacts: dict[str, str] = field(default_factory=dict)  # channel → address
    channel_preferences: tuple[str, ...] = ()
    opted_out: frozenset[str] = frozenset()
    do_not_remind: bool = False
    paused_until: date | None = None
    tags: frozenset[str] = frozenset()
    source: str | None = None


@dataclass(slots=True)
class Occurrence:
    """One point on a target's timeline: a step, or the n-th repeat of one (`name#n`)."""

    name: str
    step: Step
    on: date


@dataclass(slots=True)
class Decision:
    track: Track
    occurrence: Occurrence
    target: InvoiceFact  # the pace-setter: oldest remindable invoice of the group
    invoices: tuple[InvoiceFact, ...]
    total: Decimal
    days_overdue: int
    deliveries: tuple[tuple[str, str], ...]  # (channel, address); several = a parallel group
    reason: str
    # The step's later usable groups, tried in order when `deliveries` is refused for good.
    fallbacks: tuple[tuple[tuple[str, str], ...], ...] = ()

    @property
    def step(self) -> Step:
        return self.occurrence.step

    @property
    def currency(self) -> str:
        return self.target.currency

    @property
    def channel(self) -> str | None:
        return self.deliveries[0][0] if self.deliveries else None

    @property
    def recipient(self) -> str | None:
        return self.deliveries[0][1] if self.deliveries else None


@dataclass(frozen=True)
class Skip:
    reason: str


def track_matches(track: Track, customer: CustomerFact, currency: str, total: Decimal) -> bool:
    m = track.match
    if m is None:
        return True
    return (
        (m.tiers is None or customer.tier in m.tiers)
        and (m.tags is None or bool(customer.tags & set(m.tags)))
        and (m.min_amount is None or total >= m.min_amount)
        and (m.max_amount is None or total <= m.max_amount)
        and (m.currencies is None or currency in m.currencies)
        and (m.sources is None or customer.source in m.sources)
    )


def choose_track(
    policy: Policy, customer: CustomerFact, currency: str, total: Decimal
) -> Track | None:
    return next((t for t in policy.tracks if track_matches(t, customer, currency, total)), None)


def _shift(start: date, days: int, business: bool, calendar: WorkCalendar) -> date:
    return calendar.add_working_days(start, days) if business else start + timedelta(days=days)


def timeline(
    track: Track, due_on: date, done: Mapping[str, date], calendar: WorkCalendar, horizon: date
) -> list[Occurrence]:
    """Every occurrence of the track for one target up to `horizon`, in step order.

    A step timed after the previous one counts from the day that step was really planned, or
    from its nominal day if it never was (catch-up skipped it).
    """
    out: list[Occurrence] = []
    previous: Occurrence | None = None
    for step in track.steps:
        if step.offset_days is not None:
            on = _shift(due_on, step.offset_days, step.business_days, calendar)
        else:
            assert previous is not None and step.after_previous_days is not None
            anchor = done.get(previous.name, previous.on)
            on = _shift(anchor, step.after_previous_days, step.business_days, calendar)
        current = Occurrence(step.name, step, on)
        out.append(current)
        if step.repeat is not None:
            count, day = 1, on
            while True:
                day += timedelta(days=step.repeat.every_days)
                count += 1
                if step.repeat.times is not None and count > step.repeat.times:
                    break
                if (
                    step.repeat.until_day is not None
                    and (day - due_on).days > step.repeat.until_day
                ):
                    break
                if day > horizon:
                    break
                out.append(Occurrence(f"{step.name}#{count}", step, day))
        previous = current
    return out


def choose_deliveries(step: Step, customer: CustomerFact) -> tuple[tuple[str, str], ...]:
    """The first usable channel group: groups holding a preferred channel first (in preference
    order), then the step's order; unreachable and opted-out channels are dropped."""
    groups = usable_groups(step, customer)
    return groups[0] if groups else ()


def usable_groups(step: Step, customer: CustomerFact) -> tuple[tuple[tuple[str, str], ...], ...]:
    """Every usable channel group in the order `choose_deliveries` ranks them."""
    groups: Iterable[tuple[str, ...]] = step.groups
    if customer.channel_preferences:
        rank = {c: i for i, c in enumerate(customer.channel_preferences)}
        groups = sorted(
            groups, key=lambda g: min((rank[c] for c in g if c in rank), default=len(rank))
        )
    out = []
    for group in groups:
        usable = tuple(
            (c, customer.contacts[c])
            for c in group
            if customer.contacts.get(c) and c not in customer.opted_out
        )
        if usable:
            out.append(usable)
    return tuple(out)


def lead_days(track: Track) -> int:
    """How far ahead of due an invoice is listed (the earliest pre-due step)."""
    first = track.steps[0].offset_days or 0
    return max(0, -first)


def decide(
    policy: Policy,
    customer: CustomerFact,
    invoices: Iterable[InvoiceFact],
    today: date,
    done: Done | None = None,
    calendar: WorkCalendar | None = None,
) -> Decision | Skip:
    """Decide for one customer × currency group: at most one occurrence per target per day, and
    only the latest one due (catch-up), never one already planned."""
    if customer.do_not_remind:
        return Skip("customer is marked do-not-remind / 客户设置为不提醒")
    if customer.paused_until is not None and today <= customer.paused_until:
        return Skip(f"customer paused until {customer.paused_until.isoformat()} / 客户暂停提醒")
    # Inlined `remindable`; the planner's rows arrive sorted, so this sort is a linear check.
    open_invoices = [
        i for i in invoices if i.status == "open" and not i.do_not_remind and i.amount_open > 0
    ]
    open_invoices.sort(key=_PACE_ORDER)
    if not open_invoices:
        return Skip("nothing open to remind about / 没有待催收的应收")
    target = open_invoices[0]
    group_total = sum((i.amount_open for i in open_invoices), Decimal(0))
    track = choose_track(policy, customer, target.currency, group_total)
    if track is None:
        return Skip(
            f"no track matches / 没有匹配的催收方案 (tier {customer.tier}, {target.currency})"
        )
    target_done = (done or {}).get(target.id, {})
    if today in target_done.values():
        return Skip(f"already reminded today about {target.number} / 今日已提醒")
    calendar = calendar or WorkCalendar(None)
    occurrences = timeline(track, target.due_on, target_done, calendar, today)
    due = [o for o in occurrences if o.on <= today]
    days = (today - target.due_on).days
    if not due:
        return Skip(
            f"no step due: oldest invoice {target.number} is at day {days:+d}, first step on "
            f"{occurrences[0].on.isoformat()} / 尚未到第一个催收节点"
        )
    current = due[-1]
    if any(o.name in target_done for o in occurrences[len(due) - 1 :]):
        return Skip(
            f"step {current.name} (or a later one) already planned for {target.number} / 该节点已安排"
        )
    horizon = today + timedelta(days=lead_days(track))
    listed = tuple(i for i in open_invoices if i.due_on <= horizon)
    total = sum((i.amount_open for i in listed), Decimal(0))
    minimum = policy.min_open_amount.get(target.currency, Decimal(0))
    if total < minimum:
        return Skip(
            f"open amount {total} {target.currency} is below the minimum {minimum} / 金额低于下限"
        )
    groups = usable_groups(current.step, customer)
    deliveries = groups[0] if groups else ()
    if not deliveries and current.step.task is None:
        names = ", ".join("+".join(g) for g in current.step.channel_groups())
        return Skip(f"no reachable channel among {names} / 没有可用的渠道")
    reason = (
        f"{track.name}/{current.name}: oldest open invoice {target.number} is at day {days:+d} "
        f"(step due {current.on.isoformat()}); {len(listed)} invoice(s), {total} {target.currency}"
    )
    return Decision(track, current, target, listed, total, days, deliveries, reason, groups[1:])


def _remindable(invoice: InvoiceLike) -> bool:
    return invoice.status == "open" and not invoice.do_not_remind and invoice.amount_open > 0


def pace_setter(invoices: Iterable[InvoiceLike]) -> InvoiceLike | None:
    """The group's oldest remindable invoice by (due date, id): the one that sets the pace
    (the planner's database query picks the same one, see facts.pace_setters)."""
    return min((i for i in invoices if _remindable(i)), key=_PACE_ORDER, default=None)


def could_change(
    policy: Policy, target: InvoiceLike | None, today: date, done: Done, calendar: WorkCalendar
) -> bool:
    """Could `decide` plan anything new today for the group whose pace-setter is `target`,
    whoever the customer is?

    A conservative filter that needs neither customer facts nor the group's other invoices:
    False only when, for every track, the pace-setter has no due occurrence that is not yet
    planned (or was planned today) — which is exactly when `decide` skips whatever the
    customer's tier, tags, pauses or channels. It runs for every group of every org each day.
    """
    if target is None:
        return False
    target_done = done.get(target.id, {})
    if today in target_done.values():
        return False
    days = (today - target.due_on).days
    for track in policy.tracks:
        fixed = track.fixed_offsets
        if fixed is not None:
            offsets, names = fixed
            current = bisect_right(offsets, days) - 1
            if current >= 0 and not any(name in target_done for name in names[current:]):
                return True
            continue
        occurrences = timeline(track, target.due_on, target_done, calendar, today)
        due = sum(1 for o in occurrences if o.on <= today)
        if due and not any(o.name in target_done for o in occurrences[due - 1 :]):
            return True
    return False
