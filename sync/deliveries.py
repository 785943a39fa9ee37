"""Inbound deliveries accepted once: a webhook, receipt or push that arrives again is
answered, not applied twice. The unique key does it in SQL (Redis may vanish; ARCHITECTURE
invariant 1)."""

from __future__ import annotations

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from dunlin.db import utcnow
from dunlin.models import InboundDelivery

DELIVERY_ID_LENGTH = 200

# Plain SQL that SQLite (3.35+) and PostgreSQL both take; SQLAlchemy cannot cache the compiled
# form of its dialect ON CONFLICT constructs, and this runs on every webhook. The payment
# webhook's PostgreSQL statement embeds the same INSERT as its first CTE.
RECORD_DELIVERY_SQL = (
    "INSERT INTO inbound_deliveries (org_id, endpoint, delivery_id, received_at)"
    " VALUES (:org_id, :endpoint, :delivery_id, :received_at)"
    " ON CONFLICT (org_id, endpoint, delivery_id) DO NOTHING RETURNING id"
)
RECEIVED_AT = bindparam("received_at", type_=InboundDelivery.__table__.c.received_at.type)
_RECORD_DELIVERY = text(RECORD_DELIVERY_SQL).bindparams(RECEIVED_AT)


def delivery_row(org_id: int, endpoint: str, delivery_id: str) -> dict[str, object]:
    return {
        "org_id": org_id,
        "endpoint": endpoint,
        "delivery_id": delivery_id[:DELIVERY_ID_LENGTH],
        "received_at": utcnow(),
    }


def first_delivery(conn: Connection, org_id: int, endpoint: str, delivery_id: str) -> bool:
    """True the first time (endpoint, delivery id) is seen in this org; False for a replay.
    One INSERT … ON CONFLICT DO NOTHING: also the request's first write (SQLite locks here)."""
    row = delivery_row(org_id, endpoint, delivery_id)
    return conn.execute(_RECORD_DELIVERY, row).first() is not None
