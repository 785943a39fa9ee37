"""Channel configs per org: add (secrets encrypted), list with secrets masked, enable, remove."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from dunlin.crypto import SecretBox
from dunlin.errors import ConfigError, NotFound
from dunlin.events import record_event
from dunlin.i18n import t
from dunlin.log import redacting_filter
from dunlin.models import Org
from dunlin.vocabulary import CHANNELS
from reminders.core.outcomes import BROKEN_PREFIX
from reminders.core.statuses import PLANNED
from reminders.models import ChannelConfig, Reminder
from reminders.sending.channels.base import OutgoingMessage
from reminders.sending.channels.registry import providers


def save_channel(
    session: Session,
    box: SecretBox,
    org_id: int,
    name: str,
    provider: str,
    settings: dict[str, Any],
    secrets: dict[str, Any],
) -> ChannelConfig:
    """Create or replace the config serving a policy channel name."""
    if name not in CHANNELS:
        raise ConfigError(f"unknown channel {name!r} (known: {', '.join(CHANNELS)})")
    if provider not in providers():
        raise ConfigError(
            f"unknown provider {provider!r} (known: {', '.join(sorted(providers()))})"
        )
    for value in secrets.values():
        if len(str(value)) >= 6:  # a one-letter test secret would redact every such letter
            redacting_filter.known.add(str(value))
    config = session.scalar(
        select(ChannelConfig).where(ChannelConfig.org_id == org_id, ChannelConfig.name == name)
    )
    if config is None:
        config = ChannelConfig(org_id=org_id, name=name)
        session.add(config)
    config.provider = provider
    config.settings = settings
    config.secrets = box.encrypt(secrets) if secrets else None
    config.broken_reason = None
    config.broken_at = None
    session.flush()
    record_event(
        session,
        org_id,
        "channel.saved",
        f"{name} → {provider}",
        data={"channel": name, "provider": provider, "settings": sorted(settings)},
    )
    return config


def get_channel(session: Session, org_id: int, name: str) -> ChannelConfig:
    config = session.scalar(
        select(ChannelConfig).where(ChannelConfig.org_id == org_id, ChannelConfig.name == name)
    )
    if config is None:
        raise NotFound(f"no channel {name!r} is configured / 未配置渠道 {name!r}")
    return config


def channel_configs(session: Session, org_id: int) -> dict[str, ChannelConfig]:
    rows = session.scalars(select(ChannelConfig).where(ChannelConfig.org_id == org_id))
    return {c.name: c for c in rows}


def masked_secrets(box: SecretBox, config: ChannelConfig) -> str:
    if not config.secrets:
        return "-"
    return ", ".join(f"{k}=****" for k in sorted(box.decrypt(config.secrets)))


def enable_channel(session: Session, org_id: int, name: str, now: datetime) -> int:
    """Clear a broken mark; rows held while it was broken become due now. Returns how many."""
    config = get_channel(session, org_id, name)
    config.broken_reason = None
    config.broken_at = None
    # An UPDATE's result is a CursorResult (Session.execute is typed for any statement).
    released = cast(
        CursorResult[Any],
        session.execute(
            update(Reminder)
            .where(
                Reminder.org_id == org_id,
                Reminder.channel == name,
                Reminder.status == PLANNED,
                Reminder.scheduled_at > now,
                Reminder.error.startswith(BROKEN_PREFIX),
            )
            .values(scheduled_at=now, updated_at=now)
        ),
    ).rowcount
    record_event(session, org_id, "channel.enabled", name, data={"released": released or 0})
    return released or 0


def remove_channel(session: Session, org_id: int, name: str) -> None:
    session.delete(get_channel(session, org_id, name))
    record_event(session, org_id, "channel.removed", name)


def test_message(org: Org, name: str, address: str, now: datetime) -> OutgoingMessage:
    """A short, clearly-labelled message for `channels test` (CLI and API)."""
    text = t(
        f"Dunlin test message for {org.name} ({now:%Y-%m-%d %H:%M} UTC).",
        f"Dunlin 测试消息：{org.name}（{now:%Y-%m-%d %H:%M} UTC）。",
    )
    return OutgoingMessage(
        key=f"test:{name}:{now:%Y%m%d%H%M%S}",
        channel=name,
        recipient=address,
        locale=org.language,
        subject=t("Dunlin test message", "Dunlin 测试消息"),
        text=text + "\n",
        html=f"<p>{text}</p>",
        short=text,
        created_at=now,
        template="test",
        variables={"customer_name": org.name, "total": "0", "days_overdue": "0"},
    )
