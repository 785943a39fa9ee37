"""The rules that turn a classified send result into the row's next state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from reminders.core.outcomes import BROKEN_PREFIX, MAX_ATTEMPTS, deferral, next_state
from reminders.sending.channels.base import Outcome, SendResult

NOW = datetime(2026, 12, 1, 4, tzinfo=UTC)
IN_FLIGHT = {"sending", "queued"}


@given(
    outcome=st.sampled_from(list(Outcome)),
    attempts=st.integers(min_value=1, max_value=12),
    wait=st.none() | st.floats(min_value=0, max_value=86400 * 3),
)
def test_nothing_stays_in_flight_and_retries_are_bounded(outcome, attempts, wait):
    result = SendResult(outcome, "id" if outcome is Outcome.SENT else None, "d", wait)
    step = next_state(result, attempts, NOW)
    status = step.changes["status"]
    assert status not in IN_FLIGHT and step.changes["lease_until"] is None
    if status == "planned":
        assert step.changes["scheduled_at"] > NOW  # never a hot loop
        if wait:
            assert step.changes["scheduled_at"] >= NOW + timedelta(seconds=wait)
    if outcome in (Outcome.RETRY_LATER, Outcome.RETRY_TOMORROW) and attempts >= MAX_ATTEMPTS:
        assert status == "failed" and step.fall_back


def test_each_class_maps_to_its_state():
    def status(outcome, attempts=1):
        return next_state(SendResult(outcome, detail="x"), attempts, NOW)

    assert status(Outcome.SENT).changes["status"] == "sent"
    assert status(Outcome.UNKNOWN).changes["status"] == "uncertain"
    assert status(Outcome.PERMANENT_RECIPIENT).fall_back
    tomorrow = status(Outcome.RETRY_TOMORROW)
    assert tomorrow.changes["scheduled_at"] == NOW + timedelta(days=1)
    broken = status(Outcome.CHANNEL_BROKEN, attempts=3)
    assert broken.channel_broken and broken.changes["attempts"] == 2  # the attempt is given back
    assert broken.changes["error"].startswith(BROKEN_PREFIX)
    later = [status(Outcome.RETRY_LATER, n).changes["scheduled_at"] for n in (1, 2, 3, 4)]
    assert later == sorted(later) and len(set(later)) == 4  # backoff grows


def test_a_rate_limit_deferral_costs_no_attempt():
    step = deferral(30, attempts=2, now=NOW, why="rate limit")
    assert step.changes["attempts"] == 1 and step.changes["status"] == "planned"
    assert step.changes["scheduled_at"] == NOW + timedelta(seconds=30)
