"""The pure decision core: worked examples, then properties over generated data."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reminders.core.decide import (
    CustomerFact,
    Decision,
    InvoiceFact,
    Skip,
    choose_deliveries,
    could_change,
    decide,
    pace_setter,
    timeline,
)
from reminders.core.policy import Match, Policy, Repeat, Step, TaskSpec, Track, default_policy
from reminders.core.schedule import calendar_for

POLICY = default_policy()
TODAY = date(2026, 12, 1)
CN = calendar_for("CN")
REACHABLE = CustomerFact(id=1, contacts={"email": "a@x.cn", "sms": "+8613812345678"})


def inv(id_: int, days_overdue: int, amount: str = "100", **kw) -> InvoiceFact:
    return InvoiceFact(
        id_, f"INV-{id_}", "CNY", TODAY - timedelta(days=days_overdue), Decimal(amount), **kw
    )


def test_catch_up_gives_only_the_highest_step_due():
    outcome = decide(POLICY, REACHABLE, [inv(1, 20)], TODAY)
    assert isinstance(outcome, Decision)
    assert outcome.step.name == "overdue-10"  # not pre-due, not overdue-3
    assert outcome.days_overdue == 20


def test_step_already_planned_is_not_planned_again_nor_a_lower_one():
    earlier = TODAY - timedelta(days=1)
    assert isinstance(
        decide(POLICY, REACHABLE, [inv(1, 20)], TODAY, {1: {"overdue-10": earlier}}), Skip
    )
    assert isinstance(
        decide(POLICY, REACHABLE, [inv(1, 20)], TODAY, {1: {"overdue-30": earlier}}), Skip
    )
    nxt = decide(POLICY, REACHABLE, [inv(1, 31)], TODAY, {1: {"overdue-10": earlier}})
    assert isinstance(nxt, Decision) and nxt.step.name == "overdue-30"


def test_at_most_one_step_per_target_per_day():
    outcome = decide(POLICY, REACHABLE, [inv(1, 31)], TODAY, {1: {"overdue-10": TODAY}})
    assert isinstance(outcome, Skip) and "today" in outcome.reason


def test_grouping_oldest_sets_the_pace_and_lists_every_overdue_invoice():
    outcome = decide(
        POLICY, REACHABLE, [inv(2, 4, "50"), inv(1, 12, "100"), inv(3, -10, "7")], TODAY
    )
    assert isinstance(outcome, Decision)
    assert outcome.target.id == 1 and outcome.step.name == "overdue-10"
    assert [i.id for i in outcome.invoices] == [1, 2]  # the one due in 10 days is not listed
    assert outcome.total == Decimal("150")


def test_when_the_oldest_is_paid_the_next_oldest_takes_over():
    done = {1: {"overdue-10": TODAY - timedelta(days=2)}}
    outcome = decide(POLICY, REACHABLE, [inv(1, 12, status="paid"), inv(2, 4)], TODAY, done)
    assert isinstance(outcome, Decision)
    assert outcome.target.id == 2 and outcome.step.name == "overdue-3"


def test_disputed_invoice_is_excluded_not_the_customer():
    outcome = decide(POLICY, REACHABLE, [inv(1, 40, status="disputed"), inv(2, 5)], TODAY)
    assert isinstance(outcome, Decision) and [i.id for i in outcome.invoices] == [2]


def test_pre_due_courtesy():
    outcome = decide(POLICY, REACHABLE, [inv(1, -3)], TODAY)
    assert isinstance(outcome, Decision) and outcome.step.name == "pre-due"
    assert isinstance(decide(POLICY, REACHABLE, [inv(1, -4)], TODAY), Skip)


def test_pauses_and_flags():
    paused = CustomerFact(id=1, contacts={"email": "a@x.cn"}, paused_until=TODAY)
    assert "paused" in decide(POLICY, paused, [inv(1, 20)], TODAY).reason
    dnr = CustomerFact(id=1, contacts={"email": "a@x.cn"}, do_not_remind=True)
    assert isinstance(decide(POLICY, dnr, [inv(1, 20)], TODAY), Skip)
    only_flagged = [inv(1, 20, do_not_remind=True), inv(2, 20, status="disputed")]
    assert isinstance(decide(POLICY, REACHABLE, only_flagged, TODAY), Skip)


def test_channel_choice_prefers_customer_then_step_order_and_skips_unreachable():
    step = Step(name="s", offset_days=0, channels=["email", "sms", "wecom"])
    both = CustomerFact(id=1, contacts={"email": "e", "sms": "p", "wecom": "w"})
    assert choose_deliveries(step, both) == (("email", "e"),)
    prefers_wecom = CustomerFact(id=1, contacts=both.contacts, channel_preferences=("wecom", "fax"))
    assert choose_deliveries(step, prefers_wecom) == (("wecom", "w"),)
    opted_out = CustomerFact(id=1, contacts=both.contacts, opted_out=frozenset({"email"}))
    assert choose_deliveries(step, opted_out) == (("sms", "p"),)
    assert choose_deliveries(step, CustomerFact(id=1)) == ()


def test_parallel_group_sends_on_every_reachable_channel_of_the_group():
    step = Step(name="s", offset_days=0, channels=[["email", "wecom"], "sms"])
    assert choose_deliveries(
        step, CustomerFact(id=1, contacts={"email": "e", "wecom": "w", "sms": "p"})
    ) == (("email", "e"), ("wecom", "w"))
    assert choose_deliveries(step, CustomerFact(id=1, contacts={"wecom": "w", "sms": "p"})) == (
        ("wecom", "w"),
    )
    assert choose_deliveries(step, CustomerFact(id=1, contacts={"sms": "p"})) == (("sms", "p"),)


def test_unreachable_customer_still_gets_the_salesperson_task_at_the_final_step():
    nobody = CustomerFact(id=1)
    assert isinstance(decide(POLICY, nobody, [inv(1, 12)], TODAY), Skip)
    final = decide(POLICY, nobody, [inv(1, 40)], TODAY)
    assert isinstance(final, Decision) and final.channel is None and final.step.task is not None


def test_minimum_open_amount():
    policy = POLICY.model_copy(update={"min_open_amount": {"CNY": Decimal("100")}})
    assert isinstance(decide(policy, REACHABLE, [inv(1, 20, "99.99")], TODAY), Skip)
    assert isinstance(decide(policy, REACHABLE, [inv(1, 20, "100")], TODAY), Decision)


THREE_TRACKS = Policy(
    name="three",
    tracks=[
        Track(
            name="key",
            match=Match(tiers=["A"]),
            veto_hours=24,
            steps=[Step(name="call", offset_days=1, task=TaskSpec(assignee="salesperson"))],
        ),
        Track(
            name="big-usd",
            match=Match(currencies=["USD"], min_amount=Decimal("1000")),
            steps=[Step(name="usd", offset_days=1, channels=["email"])],
        ),
        Track(name="rest", steps=[Step(name="nudge", offset_days=1, channels=["email"])]),
    ],
)


@pytest.mark.parametrize(
    ("tier", "currency", "amount", "track"),
    [
        ("A", "CNY", "5", "key"),
        ("B", "USD", "1000", "big-usd"),
        ("B", "USD", "999", "rest"),
        ("C", "CNY", "99999", "rest"),
    ],
)
def test_first_matching_track_wins(tier, currency, amount, track):
    customer = CustomerFact(id=1, tier=tier, contacts={"email": "e"})
    invoice = InvoiceFact(1, "N", currency, TODAY - timedelta(days=2), Decimal(amount))
    outcome = decide(THREE_TRACKS, customer, [invoice], TODAY)
    assert isinstance(outcome, Decision) and outcome.track.name == track


def test_business_days_skip_holidays_and_count_make_up_days():
    track = Track(
        name="t", steps=[Step(name="s", offset_days=3, business_days=True, channels=["email"])]
    )
    # Due Thu 2025-09-25: Fri 26 (1), Sun 28 is a make-up working day (2), Mon 29 (3).
    assert timeline(track, date(2025, 9, 25), {}, CN, date(2026, 1, 1))[0].on == date(2025, 9, 29)
    # Due Tue 2025-09-30: Oct 1–8 are the National Day holidays → Thu 9 (1), Fri 10 (2), Sat 11 make-up (3).
    assert timeline(track, date(2025, 9, 30), {}, CN, date(2026, 1, 1))[0].on == date(2025, 10, 11)


def test_steps_after_the_previous_one_count_from_when_it_really_went():
    track = Track(
        name="t",
        steps=[
            Step(name="first", offset_days=3, channels=["email"]),
            Step(name="second", after_previous_days=5, channels=["email"]),
        ],
    )
    due = date(2026, 11, 1)
    nominal = timeline(track, due, {}, CN, TODAY)
    assert [o.on for o in nominal] == [date(2026, 11, 4), date(2026, 11, 9)]
    late = timeline(track, due, {"first": date(2026, 11, 20)}, CN, TODAY)
    assert late[1].on == date(2026, 11, 25)


def test_repeat_until_day_and_times():
    until = Track(
        name="t",
        steps=[
            Step(
                name="weekly",
                offset_days=7,
                channels=["email"],
                repeat=Repeat(every_days=7, until_day=28),
            )
        ],
    )
    assert [o.name for o in timeline(until, date(2026, 1, 1), {}, CN, TODAY)] == [
        "weekly",
        "weekly#2",
        "weekly#3",
        "weekly#4",
    ]
    times = Track(
        name="t",
        steps=[
            Step(name="w", offset_days=0, channels=["email"], repeat=Repeat(every_days=2, times=2))
        ],
    )
    assert [o.name for o in timeline(times, date(2026, 1, 1), {}, CN, TODAY)] == ["w", "w#2"]


def test_repeats_are_planned_one_at_a_time():
    policy = Policy(
        name="p",
        tracks=[
            Track(
                name="t",
                steps=[
                    Step(
                        name="weekly",
                        offset_days=7,
                        channels=["email"],
                        repeat=Repeat(every_days=7, until_day=60),
                    )
                ],
            )
        ],
    )
    first = decide(policy, REACHABLE, [inv(1, 22)], TODAY)
    assert isinstance(first, Decision) and first.occurrence.name == "weekly#3"
    done = {1: {"weekly#3": TODAY - timedelta(days=1)}}
    assert isinstance(decide(policy, REACHABLE, [inv(1, 22)], TODAY, done), Skip)
    later = decide(policy, REACHABLE, [inv(1, 29)], TODAY, done)
    assert isinstance(later, Decision) and later.occurrence.name == "weekly#4"


# --- properties -------------------------------------------------------------------------------

invoices_st = st.lists(
    st.builds(
        InvoiceFact,
        id=st.integers(1, 10_000),
        number=st.just("N"),
        currency=st.just("CNY"),
        due_on=st.dates(TODAY - timedelta(days=400), TODAY + timedelta(days=60)),
        amount_open=st.decimals(Decimal("-10"), Decimal("100000"), places=2, allow_nan=False),
        status=st.sampled_from(
            ["open", "open", "open", "paid", "disputed", "cancelled", "written_off"]
        ),
        do_not_remind=st.booleans(),
    ),
    max_size=12,
    unique_by=lambda i: i.id,
)
customer_st = st.builds(
    CustomerFact,
    id=st.just(1),
    tier=st.sampled_from("ABC"),
    contacts=st.dictionaries(
        st.sampled_from(["email", "sms", "wecom"]), st.just("addr"), max_size=3
    ),
    channel_preferences=st.lists(st.sampled_from(["email", "sms", "wecom"]), max_size=2).map(tuple),
    opted_out=st.frozensets(st.sampled_from(["email", "sms", "wecom"]), max_size=2),
    do_not_remind=st.booleans(),
    paused_until=st.none() | st.dates(TODAY - timedelta(days=5), TODAY + timedelta(days=5)),
    tags=st.frozensets(st.sampled_from(["vip", "new"]), max_size=2),
)
step_names = [s.name for s in POLICY.tracks[0].steps]
done_st = st.dictionaries(
    st.integers(1, 10_000),
    st.dictionaries(
        st.sampled_from(step_names), st.dates(TODAY - timedelta(days=60), TODAY), max_size=2
    ),
    max_size=5,
)


@settings(max_examples=400, deadline=None)
@given(customer=customer_st, invoices=invoices_st, done=done_st)
def test_decisions_respect_the_invariants(customer, invoices, done):
    outcome = decide(POLICY, customer, invoices, TODAY, done, CN)
    if not isinstance(outcome, Decision):
        return
    # never about money that is not owed, never while paused or flagged
    assert not customer.do_not_remind
    assert customer.paused_until is None or customer.paused_until < TODAY
    assert all(i.remindable for i in outcome.invoices) and outcome.target in outcome.invoices
    # the pace-setter is the oldest remindable invoice, and its step's time has come
    remindable = [i for i in invoices if i.remindable]
    assert outcome.target == min(remindable, key=lambda i: (i.due_on, i.id))
    assert outcome.occurrence.on <= TODAY
    # catch-up: nothing later is due, nothing from here on was planned, and not twice today
    target_done = done.get(outcome.target.id, {})
    later = [
        s for s in outcome.track.steps if (s.offset_days or 0) > (outcome.step.offset_days or 0)
    ]
    assert all(outcome.target.due_on + timedelta(days=s.offset_days) > TODAY for s in later)
    assert not ({outcome.step.name} | {s.name for s in later}) & set(target_done)
    assert TODAY not in target_done.values()
    assert outcome.total == sum(i.amount_open for i in outcome.invoices)
    # the channels are reachable, allowed by the step, and not opted out
    for channel, address in outcome.deliveries:
        assert any(channel in group for group in outcome.step.channel_groups())
        assert customer.contacts.get(channel) == address and channel not in customer.opted_out
    if not outcome.deliveries:
        assert outcome.step.task is not None


@settings(max_examples=200, deadline=None)
@given(customer=customer_st, invoices=invoices_st, done=done_st)
def test_replanning_the_same_day_is_a_no_op(customer, invoices, done):
    """Once the decided occurrence is recorded, the same day decides nothing for any target."""
    first = decide(POLICY, customer, invoices, TODAY, done, CN)
    if isinstance(first, Decision):
        recorded = {
            **done,
            first.target.id: {**done.get(first.target.id, {}), first.occurrence.name: TODAY},
        }
        assert isinstance(decide(POLICY, customer, invoices, TODAY, recorded, CN), Skip)


@settings(max_examples=400, deadline=None)
@given(
    customer=customer_st,
    invoices=invoices_st,
    done=done_st,
    policy=st.sampled_from([POLICY, THREE_TRACKS]),
    today=st.dates(TODAY - timedelta(days=30), TODAY + timedelta(days=30)),
)
def test_the_planners_prefilter_never_hides_a_decision(customer, invoices, done, policy, today):
    """The planner skips groups for which `could_change` is False without loading the customer;
    that is only sound if `decide` would skip them for any customer."""
    if not could_change(policy, pace_setter(invoices), today, done, CN):
        assert isinstance(decide(policy, customer, invoices, today, done, CN), Skip)
