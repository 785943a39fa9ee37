"""The ledger's key format and the customer's zone fallback, each defined once."""

from zoneinfo import available_timezones

from hypothesis import given
from hypothesis import strategies as st

from dunlin.vocabulary import CHANNELS
from reminders.core.keys import (
    base_key,
    base_of,
    reminder_key,
    sibling_key,
    task_key,
    veto_key,
)
from reminders.core.zones import customer_zone, valid_timezone

ZONES = sorted(available_timezones())
steps = st.text(alphabet=st.characters(blacklist_characters=":"), min_size=1, max_size=40)
channels = st.sampled_from(sorted(CHANNELS))
ids = st.integers(min_value=1, max_value=2**63 - 1)


def test_the_format_rows_already_carry():
    assert reminder_key(42, "overdue-10", "email") == "r42:overdue-10:email"
    assert task_key(base_key(42, "overdue-10")) == "task:r42:overdue-10"
    assert veto_key(base_key(42, "overdue-10")) == "veto:r42:overdue-10"


@given(ids, steps, channels, channels)
def test_a_fallback_and_a_review_task_find_the_planned_rows_step(target, step, one, other):
    key = reminder_key(target, step, one)
    assert base_of(key) == base_key(target, step)
    assert sibling_key(key, other) == reminder_key(target, step, other)
    assert veto_key(base_of(key)) == veto_key(base_key(target, step))


@given(ids, ids, steps, steps, channels, channels)
def test_keys_differ_when_target_step_or_channel_do(t1, t2, s1, s2, c1, c2):
    same = (t1, s1, c1) == (t2, s2, c2)
    assert (reminder_key(t1, s1, c1) == reminder_key(t2, s2, c2)) == same


@given(st.sampled_from(ZONES), st.sampled_from(ZONES))
def test_a_real_customer_zone_is_kept(customer, org):
    assert valid_timezone(customer) and customer_zone(customer, org) == customer


@given(st.one_of(st.none(), st.just(""), st.text(max_size=30)), st.sampled_from(ZONES))
def test_anything_else_falls_back_to_the_orgs_zone(customer, org):
    if customer in ZONES:
        return
    assert customer_zone(customer, org) == org
