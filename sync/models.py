"""Synced tables: sources, customers (with contact points), receivables, cursors.

Rows are keyed by (org, source, external id) so a re-sync upserts instead of duplicating.
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

RECEIVABLE_STATUSES = ("open", "paid", "cancelled", "disputed", "written_off")


class Source(Base):
    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))  # leads a composite key
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))  # spreadsheet, odoo, kingdee, rest
    mapping: Mapped[str] = mapped_column(String(200))
    # Fernet token (dunlin.crypto.SecretBox); never returned by any API or log.
    credentials_encrypted: Mapped[str | None] = mapped_column(Text)
    # The secret that authenticates this source's payment webhooks (in the URL path for Odoo,
    # the HMAC key otherwise); Fernet-encrypted like the credentials.
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(32), default="ok")
    status_detail: Mapped[str] = mapped_column(Text, default="")
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Counts of the last sync (records, skipped, a sample of skipped ids with reasons).
    last_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("org_id", "source_id", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))  # leads a composite key
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(300))
    # Contact points, one per channel.
    email: Mapped[str | None] = mapped_column(String(320))
    mobile: Mapped[str | None] = mapped_column(String(20))  # E.164
    wecom_userid: Mapped[str | None] = mapped_column(String(128))
    wechat_openid: Mapped[str | None] = mapped_column(String(128))
    dingtalk_userid: Mapped[str | None] = mapped_column(String(128))
    push_token: Mapped[str | None] = mapped_column(String(512))
    language: Mapped[str | None] = mapped_column(String(16))
    timezone: Mapped[str | None] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(1), default="B")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    salesperson_ref: Mapped[str | None] = mapped_column(String(128))
    salesperson_name: Mapped[str | None] = mapped_column(String(200))
    channel_preferences: Mapped[list[str]] = mapped_column(JSON, default=list)
    opted_out_channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    do_not_remind: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_until: Mapped[date | None] = mapped_column(Date)
    # The date the customer promised to pay by (self-service link); checked for broken promises.
    promised_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Receivable(Base):
    __tablename__ = "receivables"
    __table_args__ = (
        UniqueConstraint("org_id", "source_id", "external_id"),
        Index("ix_receivables_org_status_customer", "org_id", "status", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))  # leads a composite key
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    external_id: Mapped[str] = mapped_column(String(128))
    number: Mapped[str] = mapped_column(String(128))
    currency: Mapped[str] = mapped_column(String(3))
    amount_total: Mapped[Decimal] = mapped_column(Money)
    amount_open: Mapped[Decimal] = mapped_column(Money)
    issued_on: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    do_not_remind: Mapped[bool] = mapped_column(Boolean, default=False)
    source_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    salesperson_ref: Mapped[str | None] = mapped_column(String(128))  # the invoice's owner
    payment_url: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SyncCursor(Base):
    """Where an incremental sync of one entity stopped; advanced only after a committed page."""

    __tablename__ = "sync_cursors"
    __table_args__ = (UniqueConstraint("org_id", "source_id", "entity"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))  # leads a composite key
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    entity: Mapped[str] = mapped_column(String(64))
    position: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Writeback(Base):
    """A note or task written into a source, keyed by the Dunlin row it came from.

    The row is committed as `pending` before the call, so a crash between the source's answer
    and our commit is recovered by looking the marker up in the source instead of writing twice.
    """

    __tablename__ = "writebacks"
    __table_args__ = (UniqueConstraint("org_id", "source_id", "kind", "local_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))  # leads a composite key
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    kind: Mapped[str] = mapped_column(String(16))  # note, task
    local_ref: Mapped[str] = mapped_column(String(64))  # r<reminder id>, t<task id>
    entity: Mapped[str] = mapped_column(String(32))
    target_external_id: Mapped[str] = mapped_column(String(128))
    external_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(
        String(16), default="pending"
    )  # pending, done, closed, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
