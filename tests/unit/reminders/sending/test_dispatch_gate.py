"""Recipient caps are counted per member, or per member and template where the provider says so."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from reminders.sending.channels.base import OutgoingMessage, RecipientLimit
from reminders.sending.dispatch import Dispatcher
from reminders.sending.ratelimit import MemoryLimiter


def message(template: str, to: str = "u1") -> OutgoingMessage:
    return OutgoingMessage(
        "k",
        "wecom",
        to,
        "zh_CN",
        "s",
        "t",
        "h",
        "s",
        datetime(2026, 12, 1, tzinfo=UTC),
        template=template,
    )


def gate(limits: tuple[RecipientLimit, ...]):
    dispatcher = Dispatcher(None, SimpleNamespace(id=1), None, object(), limiter=MemoryLimiter())
    channel = SimpleNamespace(recipient_limits=limits, rate_per_second=None)
    return lambda m: dispatcher._gate(channel, m)


def test_a_per_member_cap_counts_every_template():
    check = gate((RecipientLimit(1, 3600),))
    assert check(message("reminder")) == 0
    assert check(message("final-notice")) > 0
    assert check(message("reminder", to="u2")) == 0


def test_a_per_template_cap_counts_each_template_apart():
    check = gate((RecipientLimit(1, 86400, per_template=True),))
    assert check(message("reminder")) == 0
    assert check(message("final-notice")) == 0
    assert check(message("reminder")) > 0
