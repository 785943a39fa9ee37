"""What a classified send result does to a ledger row: pure arithmetic, no I/O.

The dispatcher applies the returned changes; keeping the rules here lets them be tested
exhaustively (tests/unit/reminders/test_outcomes.py) and read in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reminders.core.statuses import FAILED, PLANNED, SENT, UNCERTAIN
from reminders.sending.channels.base import Outcome, SendResult

BACKOFF = (timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=6))
MAX_ATTEMPTS = 5
HOLD_BROKEN = timedelta(hours=6)  # a broken channel's rows wait this long (or until re-enabled)
TOMORROW = timedelta(days=1)
BROKEN_PREFIX = "channel broken: "  # rows held for a broken channel; released on re-enable


@dataclass(frozen=True)
class Next:
    """The label counted in reports, and the column values to write."""

    label: str
    changes: dict[str, Any] = field(default_factory=dict)
    fall_back: bool = False  # plan the step's next channel group
    channel_broken: bool = False


def backoff(attempts: int) -> timedelta:
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def next_state(result: SendResult, attempts: int, now: datetime) -> Next:
    """`attempts` counts this one. Retries never exceed MAX_ATTEMPTS; nothing stays in flight."""
    base: dict[str, Any] = {"lease_until": None, "error": result.detail or None, "updated_at": now}
    waited = timedelta(seconds=result.retry_after) if result.retry_after else None
    outcome = result.outcome
    if outcome is Outcome.SENT:
        return Next(
            SENT,
            {
                **base,
                "status": SENT,
                "sent_at": now,
                "provider_message_id": result.provider_message_id,
            },
        )
    if outcome is Outcome.UNKNOWN:
        return Next(UNCERTAIN, {**base, "status": UNCERTAIN})
    if outcome is Outcome.RETRY_LATER:
        if attempts >= MAX_ATTEMPTS:
            return Next(FAILED, {**base, "status": FAILED}, fall_back=True)
        delay = max(waited or timedelta(0), backoff(attempts))
        return Next("retry", {**base, "status": PLANNED, "scheduled_at": now + delay})
    if outcome is Outcome.RETRY_TOMORROW:
        if attempts >= MAX_ATTEMPTS:
            return Next(FAILED, {**base, "status": FAILED}, fall_back=True)
        delay = max(waited or timedelta(0), TOMORROW)
        return Next("deferred", {**base, "status": PLANNED, "scheduled_at": now + delay})
    if outcome is Outcome.CHANNEL_BROKEN:
        # Not the recipient's fault: the attempt is given back so a fix resumes cleanly.
        return Next(
            "held",
            {
                **base,
                "error": f"{BROKEN_PREFIX}{result.detail}",
                "status": PLANNED,
                "scheduled_at": now + max(waited or timedelta(0), HOLD_BROKEN),
                "attempts": max(0, attempts - 1),
            },
            channel_broken=True,
        )
    return Next(FAILED, {**base, "status": FAILED}, fall_back=True)


def deferral(wait_seconds: float, attempts: int, now: datetime, why: str) -> Next:
    """A rate limit said "not yet": back to planned without counting an attempt."""
    return Next(
        "rate limited",
        {
            "status": PLANNED,
            "lease_until": None,
            "scheduled_at": now + timedelta(seconds=max(1.0, wait_seconds)),
            "attempts": max(0, attempts - 1),
            "error": why,
            "updated_at": now,
        },
    )
