"""The audit trail: append-only events, written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from dunlin.models import Event


def record_event(
    session: Session,
    org_id: int,
    kind: str,
    summary: str = "",
    *,
    subject: tuple[str, int] | None = None,
    actor: str = "system",
    data: dict[str, Any] | None = None,
) -> Event:
    event = Event(
        org_id=org_id,
        kind=kind,
        summary=summary,
        actor=actor,
        subject_type=subject[0] if subject else None,
        subject_id=subject[1] if subject else None,
        data=data or {},
    )
    session.add(event)
    return event


def event_row(
    org_id: int,
    kind: str,
    summary: str,
    *,
    at: datetime,
    actor: str = "system",
    subject: tuple[str, int] | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event as a row for one bulk `insert(Event)` (several events, one statement)."""
    return {
        "org_id": org_id,
        "at": at,
        "kind": kind,
        "actor": actor,
        "subject_type": subject[0] if subject else None,
        "subject_id": subject[1] if subject else None,
        "summary": summary[:500],
        "data": data or {},
    }
