"""Sources: one row per connected system (or spreadsheet feed) of an org."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.models import Source


def ensure_source(session: Session, org_id: int, name: str, kind: str, mapping: str) -> Source:
    source = session.scalar(select(Source).where(Source.org_id == org_id, Source.name == name))
    if source is None:
        source = Source(org_id=org_id, name=name, kind=kind, mapping=mapping)
        session.add(source)
        session.flush()
    return source
