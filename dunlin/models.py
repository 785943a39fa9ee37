"""Tables owned by the application shell: orgs (tenants), the append-only audit log, and the
inbound deliveries already accepted (replay protection for webhooks, receipts and pushes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dunlin.db import Base, BigId, UTCDateTime, utcnow


class Org(Base):
    __tablename__ = "orgs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    language: Mapped[str] = mapped_column(String(16), default="zh_CN")
    region: Mapped[str] = mapped_column(String(2), default="CN")
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """What happened, to what, by whom. Rows are only ever inserted."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_org_subject", "org_id", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))  # leads a composite key
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128), default="system")
    subject_type: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column(BigId)
    summary: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class InboundDelivery(Base):
    """One accepted webhook delivery. The unique key makes a replay a no-op, in SQL (Redis may
    vanish; ARCHITECTURE invariant 1)."""

    __tablename__ = "inbound_deliveries"
    __table_args__ = (UniqueConstraint("org_id", "endpoint", "delivery_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))  # leads a composite key
    endpoint: Mapped[str] = mapped_column(String(64))  # e.g. payment:odoo:3, receipt:sms
    delivery_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
