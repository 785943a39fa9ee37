"""Orgs (tenants). Every other table carries org_id; this is where an org is found or made."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunlin.errors import NotFound
from dunlin.models import Org
from dunlin.settings import Settings


def get_org(session: Session, slug: str) -> Org:
    org = session.scalar(select(Org).where(Org.slug == slug))
    if org is None:
        raise NotFound(
            f"no org {slug!r}; run `dunlin init` first / 组织 {slug!r} 不存在，请先运行 dunlin init"
        )
    return org


def ensure_org(session: Session, slug: str, settings: Settings, name: str | None = None) -> Org:
    org = session.scalar(select(Org).where(Org.slug == slug))
    if org is None:
        org = Org(
            slug=slug,
            name=name or slug,
            timezone=settings.default_timezone,
            language=settings.default_language,
            region=settings.default_region,
            currency=settings.default_currency,
        )
        session.add(org)
        session.flush()
    return org
