"""The pure decision core: worked examples, then properties over generated data."""

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from reminders.decide import CustomerFact, Decision, InvoiceFact, Skip, choose_channel, decide
from reminders.policy import Step, default_policy

POLICY = default_policy()
TODAY = date(2026, 12, 1)
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
    assert isinstance(decide(POLICY, REACHABLE, [inv(1, 20)], TODAY, {1: {"overdue-10"}}), Skip)
    assert isinstance(decide(POLICY, REACHABLE, [inv(1, 20)], TODAY, {1: {"overdue-30"}}), Skip)
    nxt = decide(POLICY, REACHABLE, [inv(1, 31)], TODAY, {1: {"overdue-10"}})
    assert isinstance(nxt, Decision) and nxt.step.name == "overdue-30"


def test_grouping_oldest_sets_the_pace_and_lists_every_overdue_invoice():
    outcome = decide(
        POLICY, REACHABLE, [inv(2, 4, "50"), inv(1, 12, "100"), inv(3, -10, "7")], TODAY
    )
    assert isinstance(outcome, Decision)
    assert outcome.target.id == 1 and outcome.step.name == "overdue-10"
    assert [i.id for i in outcome.invoices] == [1, 2]  # the one due in 10 days is not listed
    assert outcome.total == Decimal("150")


def test_when_the_oldest_is_paid_the_next_oldest_takes_over():
    outcome = decide(
        POLICY, REACHABLE, [inv(1, 12, status="paid"), inv(2, 4)], TODAY, {1: {"overdue-10"}}
    )
    assert isinstance(outcome, Decision)
    assert outcome.target.id == 2 and outcome.step.name == "overdue-3"


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
    assert choose_channel(step, both) == ("email", "e")
    prefers_wecom = CustomerFact(id=1, contacts=both.contacts, channel_preferences=("wecom", "fax"))
    assert choose_channel(step, prefers_wecom) == ("wecom", "w")
    opted_out = CustomerFact(id=1, contacts=both.contacts, opted_out=frozenset({"email"}))
    assert choose_channel(step, opted_out) == ("sms", "p")
    assert choose_channel(step, CustomerFact(id=1)) is None


def test_unreachable_customer_still_gets_the_salesperson_task_at_the_final_step():
    nobody = CustomerFact(id=1)
    assert isinstance(decide(POLICY, nobody, [inv(1, 12)], TODAY), Skip)
    final = decide(POLICY, nobody, [inv(1, 40)], TODAY)
    assert isinstance(final, Decision) and final.channel is None and final.step.task is not None


def test_minimum_open_amount():
    policy = POLICY.model_copy(update={"min_open_amount": {"CNY": Decimal("100")}})
    assert isinstance(decide(policy, REACHABLE, [inv(1, 20, "99.99")], TODAY), Skip)
    assert isinstance(decide(policy, REACHABLE, [inv(1, 20, "100")], TODAY), Decision)


# --- properties -------------------------------------------------------------------------------

invoices_st = st.lists(
    st.builds(
        InvoiceFact,
        id=st.integers(1, 10_000),
        number=st.just("N"),
        currency=st.just("CNY"),
        due_on=st.dates(TODAY - timedelta(days=400), TODAY + timedelta(days=60)),
        amount_open=st.decimals(Decimal("-10"), Decimal("100000"), places=2, allow_nan=False),
        status=st.sampled_from(["open", "open", "open", "paid", "disputed", "cancelled"]),
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
)
done_st = st.dictionaries(
    st.integers(1, 10_000),
    st.sets(st.sampled_from([s.name for s in POLICY.tracks[0].steps]), max_size=2),
    max_size=5,
)


@settings(max_examples=400, deadline=None)
@given(customer=customer_st, invoices=invoices_st, done=done_st)
def test_decisions_respect_the_invariants(customer, invoices, done):
    outcome = decide(POLICY, customer, invoices, TODAY, done)
    if not isinstance(outcome, Decision):
        return
    # never about money that is not owed, never while paused or flagged
    assert not customer.do_not_remind
    assert customer.paused_until is None or customer.paused_until < TODAY
    assert all(i.remindable for i in outcome.invoices) and outcome.target in outcome.invoices
    # the pace-setter is the oldest remindable invoice, and its step's time has come
    remindable = [i for i in invoices if i.remindable]
    assert outcome.target == min(remindable, key=lambda i: (i.due_on, i.id))
    assert outcome.step.offset_days <= outcome.days_overdue
    # catch-up: it is the highest step due, and neither it nor a later one was planned before
    later = [s for s in outcome.track.steps if s.offset_days > outcome.step.offset_days]
    assert all(s.offset_days > outcome.days_overdue for s in later)
    assert not ({outcome.step.name} | {s.name for s in later}) & done.get(outcome.target.id, set())
    assert outcome.total == sum(i.amount_open for i in outcome.invoices)
    # the channel is reachable, allowed by the step, and not opted out
    if outcome.channel is not None:
        assert outcome.channel in outcome.step.channels
        assert customer.contacts.get(outcome.channel) == outcome.recipient
        assert outcome.channel not in customer.opted_out
    else:
        assert outcome.step.task is not None


@settings(max_examples=200, deadline=None)
@given(customer=customer_st, invoices=invoices_st)
def test_planning_the_decided_step_makes_the_next_decision_a_skip(customer, invoices):
    """Idempotence of the core: once a step is recorded, the same day decides nothing new."""
    first = decide(POLICY, customer, invoices, TODAY)
    if isinstance(first, Decision):
        again = decide(POLICY, customer, invoices, TODAY, {first.target.id: {first.step.name}})
        assert isinstance(again, Skip)
