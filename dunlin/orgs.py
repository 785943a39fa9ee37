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
        known = session.scalars(select(Org.slug).order_by(Org.slug).limit(11)).all()
        if known:
            listed = ", ".join(known[:10]) + (", …" if len(known) > 10 else "")
            raise NotFound(
                f"no org {slug!r}; choose one with --org or DUNLIN_ORG: {listed} / "
                f"组织 {slug!r} 不存在，请用 --org 或 DUNLIN_ORG 选择：{listed}"
            )
        raise NotFound(
            f"no org {slug!r}; run `dunlin init` first / 组织 {slug!r} 不存在，请先运行 dunlin init"
        )
    return org


def only_org_slug(session: Session) -> str | None:
    """The slug of the org when there is exactly one (the CLI then needs no --org)."""
    slugs = session.scalars(select(Org.slug).limit(2)).all()
    return slugs[0] if len(slugs) == 1 else None


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
