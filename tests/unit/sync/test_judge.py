"""`judge`, the rule every payment notice goes through (invariant 9), as properties: an older
notice never changes anything, a settled receivable is only reopened on request, and the
order in which notices arrive does not matter when each carries its source's timestamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usecases.payment_sql import SETTLED
from usecases.payments import (
    APPLIED,
    REOPEN_REFUSED,
    STALE,
    NoticeError,
    PaymentNotice,
    check_amount,
    judge,
)

BASE = datetime(2026, 5, 1, tzinfo=UTC)
STATUSES = ["open", "paid", "disputed", "cancelled", "written_off"]
amounts = st.decimals(min_value=0, max_value=10**6, places=2)
instants = st.integers(0, 1000).map(lambda k: BASE + timedelta(seconds=k))
notices = st.builds(
    PaymentNotice,
    external_id=st.just("1"),
    amount_open=st.none() | amounts,
    status=st.none() | st.sampled_from(STATUSES),
    version=st.none() | instants,
    reopen=st.booleans(),
)
held = st.tuples(st.sampled_from(STATUSES), amounts, st.none() | instants)


@given(held=held, notice=notices)
def test_an_older_notice_changes_nothing(held, notice):
    status, amount, version = held
    after = judge(status, amount, version, notice)
    if notice.version is not None and version is not None and notice.version < version:
        assert (after.outcome, after.status, after.amount_open, after.version) == (
            STALE,
            status,
            amount,
            version,
        )
    if after.outcome != APPLIED:
        assert (after.status, after.amount_open, after.version) == (status, amount, version)


@given(held=held, notice=notices)
def test_a_settled_receivable_is_reopened_only_on_request(held, notice):
    status, amount, version = held
    after = judge(status, amount, version, notice)
    if status in SETTLED and after.status not in SETTLED:
        assert notice.reopen
    if after.outcome == REOPEN_REFUSED:
        assert status in SETTLED and not notice.reopen


@given(held=held, notice=notices)
def test_the_held_version_never_goes_back(held, notice):
    status, amount, version = held
    after = judge(status, amount, version, notice)
    if version is not None:
        assert after.version is not None and after.version >= version


@settings(max_examples=200)
@given(
    stamps=st.lists(instants, min_size=1, max_size=4, unique=True),
    paid_down=st.lists(amounts, min_size=4, max_size=4),
)
def test_notices_of_a_paid_down_invoice_end_in_the_newest_state_in_any_order(stamps, paid_down):
    """The states a paid-down invoice goes through (its open amount falls with each version),
    delivered late, early or shuffled, leave it as the newest one says."""
    batch = [
        PaymentNotice("1", amount, None, version)
        for version, amount in zip(sorted(stamps), sorted(paid_down, reverse=True), strict=False)
    ]
    newest = batch[-1]
    ends = set()
    for order in permutations(batch):
        status, amount, version = "open", Decimal(10**7), BASE - timedelta(days=1)
        for notice in order:
            after = judge(status, amount, version, notice)
            status, amount, version = after.status, after.amount_open, after.version
        ends.add((status, amount, version))
    expected = "paid" if newest.amount_open == 0 else "open"
    assert ends == {(expected, newest.amount_open, newest.version)}


@pytest.mark.parametrize("bad", ["-5", "-0.01", "NaN", "Infinity", "-Infinity", "1E+15"])
def test_negative_non_finite_and_absurd_amounts_are_refused(bad):
    with pytest.raises(NoticeError, match="amount_open"):
        check_amount(Decimal(bad))


@given(amounts)
def test_ordinary_amounts_pass(amount):
    check_amount(amount)
