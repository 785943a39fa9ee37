"""The reminder ledger (one row per message) and follow-up tasks.

The ledger is the truth about what was sent: a unique (org, idempotency key) makes a second
row for the same (target, step, channel) impossible, whatever the queue does.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from dunlin.db import Base, BigId, Money, UTCDateTime, utcnow
from reminders.core import statuses

# The statuses and what moves a row between them: reminders/core/statuses.py and
# reminders/ledger.py. Every transition is an event `reminder.<status>`.
REMINDER_STATUSES = statuses.ALL


class Reminder(Base):
    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("org_id", "idempotency_key"),
        Index("ix_reminders_org_status_scheduled", "org_id", "status", "scheduled_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))  # leads a composite key
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    # The pace-setting receivable (oldest open one of the customer × currency group).
    target_receivable_id: Mapped[int] = mapped_column(ForeignKey("receivables.id"), index=True)
    receivable_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    policy: Mapped[str] = mapped_column(String(100))
    track: Mapped[str] = mapped_column(String(100))
    step: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(32))
    template: Mapped[str] = mapped_column(String(100))
    tone: Mapped[str] = mapped_column(String(16), default="friendly")
    recipient: Mapped[str] = mapped_column(String(512))
    currency: Mapped[str] = mapped_column(String(3))
    amount_open: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(16), default=statuses.PLANNED)
    reason: Mapped[str] = mapped_column(Text, default="")
    planned_on: Mapped[date | None] = mapped_column(Date)  # the plan day, in the org's calendar
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_message_id: Mapped[str | None] = mapped_column(String(256), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The RQ job carrying the row while `queued`; the sweeper re-enqueues rows whose job is gone.
    job_id: Mapped[str | None] = mapped_column(String(64))
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The step's later channel groups, [[channel, address], ...] each, tried in order when
    # this one is permanently refused for the recipient.
    fallbacks: Mapped[list[list[list[str]]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ChannelConfig(Base):
    """How an org sends on one policy channel (email, sms, ...): the provider and its settings.

    Secrets are Fernet-encrypted (dunlin/crypto.py). A channel marked broken (bad credentials,
    unapproved template, arrears) is not used until an admin fixes and re-enables it.
    """

    __tablename__ = "channel_configs"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))  # leads a composite key
    name: Mapped[str] = mapped_column(String(32))  # the policy's channel name
    provider: Mapped[str] = mapped_column(String(32))  # smtp, aliyun_sms, wecom_app, ...
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets: Mapped[str | None] = mapped_column(Text)
    broken_reason: Mapped[str | None] = mapped_column(Text)
    broken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Task(Base):
    """A follow-up for a person (usually the salesperson); written back to the source later."""

    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("org_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))  # leads a composite key
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    # Indexed: the planner looks up the steps done for each pace-setter, tasks included.
    receivable_id: Mapped[int | None] = mapped_column(ForeignKey("receivables.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    assignee: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date] = mapped_column(Date)
    step: Mapped[str | None] = mapped_column(String(100))  # the step occurrence that created it
    planned_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, done, vetoed, cancelled
    external_id: Mapped[str | None] = mapped_column(String(128))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PolicyVersion(Base):
    """Every version of an org's policies, as the YAML the admin wrote; one is active."""

    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("org_id", "name", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))  # leads a composite key
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    source_text: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(128), default="cli")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TemplateOverride(Base):
    """One version of an org's own text for one part of a template (reminders/sending/overrides.py).

    A row per edit, never updated: the newest version of a (name, channel, locale, part) wins,
    and the older ones say who changed what when. `channel` is a channel name or "*" (all)."""

    __tablename__ = "template_overrides"
    __table_args__ = (UniqueConstraint("org_id", "name", "channel", "locale", "part", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))  # leads the unique key
    name: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(16))
    part: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="cli")
