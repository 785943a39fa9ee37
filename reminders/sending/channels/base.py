"""The one interface every channel implements, and the classified result it returns.

Every outside call ends in one of these outcomes (ARCHITECTURE invariant 5), so the dispatcher
knows whether to retry, wait a day, fall back to the next channel, or stop using the channel.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class Outcome(enum.Enum):
    SENT = "sent"
    RETRY_LATER = "retry_later"
    RETRY_TOMORROW = "retry_tomorrow"
    PERMANENT_RECIPIENT = "permanent_recipient"  # fall back to the step's next channel
    CHANNEL_BROKEN = "channel_broken"  # credentials/config: alert, stop using it
    UNKNOWN = "unknown"  # the request may have reached the provider: `uncertain`, never resent


@dataclass(frozen=True)
class RecipientLimit:
    """At most `count` messages to one recipient per `seconds` (providers drop or refuse more)."""

    count: int
    seconds: int
    per_template: bool = False  # Aliyun counts per number *and* template; WeCom per member


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    provider_message_id: str | None = None
    detail: str = ""
    retry_after: float | None = None  # seconds, when the provider said how long to wait


@dataclass(frozen=True)
class OutgoingMessage:
    key: str  # the ledger's idempotency key
    channel: str
    recipient: str
    locale: str
    subject: str
    text: str
    html: str
    short: str
    created_at: datetime
    sender: str = "Dunlin <reminders@dunlin.local>"
    metadata: dict[str, Any] = field(default_factory=dict)
    template: str = "reminder"
    # Formatted, flat strings (customer_name, total, days_overdue, ...) for providers that only
    # take an approved template code plus parameters (SMS, WeChat template messages).
    variables: dict[str, str] = field(default_factory=dict)


class Channel(Protocol):
    """`rate_per_second` (None: unlimited) and `recipient_limits` are what the provider imposes;
    the dispatcher enforces them before calling `send`."""

    name: str
    rate_per_second: float | None
    recipient_limits: tuple[RecipientLimit, ...]

    def send(self, message: OutgoingMessage) -> SendResult: ...

    def close(self) -> None: ...
