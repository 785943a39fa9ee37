"""Sources: one row per connected system (or spreadsheet feed) of an org.

Credentials are stored only as a Fernet token (dunlin.crypto.SecretBox) and shown masked.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunlin.crypto import SecretBox
from dunlin.errors import DunlinError, NotFound
from dunlin.log import redacting_filter
from sync.models import Source


def ensure_source(session: Session, org_id: int, name: str, kind: str, mapping: str) -> Source:
    source = session.scalar(select(Source).where(Source.org_id == org_id, Source.name == name))
    if source is None:
        source = Source(org_id=org_id, name=name, kind=kind, mapping=mapping)
        session.add(source)
        session.flush()
    return source


def get_source(session: Session, org_id: int, name: str) -> Source:
    source = session.scalar(select(Source).where(Source.org_id == org_id, Source.name == name))
    if source is None:
        raise NotFound(f"no source named {name!r} / 没有名为 {name!r} 的数据源")
    return source


def add_source(
    session: Session,
    box: SecretBox,
    org_id: int,
    name: str,
    kind: str,
    mapping: str,
    settings: dict[str, Any],
    credentials: dict[str, Any],
) -> Source:
    exists = session.scalar(select(Source.id).where(Source.org_id == org_id, Source.name == name))
    if exists is not None:
        raise DunlinError(f"a source named {name!r} already exists / 数据源 {name!r} 已存在")
    source = Source(
        org_id=org_id,
        name=name,
        kind=kind,
        mapping=mapping,
        settings=settings,
        credentials_encrypted=box.encrypt(credentials) if credentials else None,
    )
    session.add(source)
    session.flush()
    return source


def update_source(
    session: Session,
    box: SecretBox,
    source: Source,
    settings: dict[str, Any],
    credentials: dict[str, Any],
) -> None:
    """Merge new settings and credentials into a source (rotated secrets, a push token the
    vendor issued later); what is not named stays as it was."""
    if settings:
        source.settings = {**(source.settings or {}), **settings}
    if credentials:
        merged = {**credentials_of(box, source), **credentials}
        source.credentials_encrypted = box.encrypt(merged)


PUBLIC_CREDENTIALS = ("login", "username", "app_id")


def credentials_of(box: SecretBox, source: Source) -> dict[str, Any]:
    """Decrypted credentials; their secret values are registered with the log redactor first,
    so no log line (ours or a library's, e.g. urllib3 debug) can carry them."""
    credentials = box.decrypt(source.credentials_encrypted) if source.credentials_encrypted else {}
    for key, value in credentials.items():
        if key not in PUBLIC_CREDENTIALS and isinstance(value, str) and len(value) >= 4:
            redacting_filter.known.add(value)
    return credentials


def masked_credentials(box: SecretBox, source: Source) -> str:
    """Which secrets are stored, never their values: `api_key=••••••, login=bot`."""
    shown = []
    for key, value in sorted(credentials_of(box, source).items()):
        public = key in PUBLIC_CREDENTIALS
        shown.append(f"{key}={value if public else '••••••'}")
    return ", ".join(shown) or "-"


def api_sources(session: Session, org_id: int, names: list[str] | None = None) -> list[Source]:
    """The org's connected (non-spreadsheet) sources, or the named ones, detached for use
    across transactions."""
    query = select(Source).where(Source.org_id == org_id, Source.kind != "spreadsheet")
    if names:
        query = query.where(Source.name.in_(names))
    sources = list(session.scalars(query.order_by(Source.name)))
    session.expunge_all()
    return sources


def new_webhook_secret(box: SecretBox, source: Source) -> str:
    """A fresh secret for the source's payment webhooks; the old one stops working at once."""
    secret = secrets.token_urlsafe(24)
    source.webhook_secret_encrypted = box.encrypt({"secret": secret})
    return secret


def webhook_secret_of(box: SecretBox, source: Source) -> str | None:
    return open_webhook_secret(box, source.webhook_secret_encrypted)


def open_webhook_secret(box: SecretBox, encrypted: str | None) -> str | None:
    if not encrypted:
        return None
    secret = box.decrypt(encrypted)["secret"]
    redacting_filter.known.add(secret)
    return secret
