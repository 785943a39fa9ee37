"""From an org's channel configs to live channels, one set per batch.

A policy names channels (email, sms, wecom, ...); each org says which provider serves each name.
A name with no config goes to the local outbox, so the embedded defaults send somewhere visible;
`dunlin channels list` and `dunlin status` say so. A config that cannot be built, or that is
marked broken, yields a channel that holds every message without any I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunlin.crypto import SecretBox
from dunlin.errors import DunlinError
from reminders.models import ChannelConfig
from reminders.sending.channels.base import (
    Channel,
    Outcome,
    OutgoingMessage,
    RecipientLimit,
    SendResult,
)
from reminders.sending.channels.http import ChannelContext
from reminders.sending.channels.outbox import OutboxChannel

log = logging.getLogger(__name__)

Builder = Callable[[str, dict[str, Any], dict[str, Any], ChannelContext], Channel]


def providers() -> dict[str, Builder]:
    """Every provider kind an admin can configure, by name."""
    from reminders.sending.channels import (
        aliyun_sms,
        dingtalk,
        fcm,
        jpush,
        smtp,
        tencent_sms,
        twilio_sms,
        webhook,
        wechat,
        wecom,
    )

    return {
        "outbox": lambda name, settings, _secrets, ctx: OutboxChannel(ctx.outbox_dir, name),
        "smtp": smtp.SmtpChannel,
        "aliyun_sms": aliyun_sms.AliyunSms,
        "tencent_sms": tencent_sms.TencentSms,
        "twilio": twilio_sms.TwilioSms,
        "wecom_app": wecom.WecomApp,
        "wecom_robot": wecom.WecomRobot,
        "wechat_template": wechat.WechatTemplate,
        "dingtalk_robot": dingtalk.DingtalkRobot,
        "dingtalk_work": dingtalk.DingtalkWorkNotice,
        "fcm": fcm.FcmPush,
        "jpush": jpush.JPush,
        "webhook": webhook.WebhookChannel,
    }


class HeldChannel:
    """Stands in for a broken or unbuildable channel: holds messages, calls nobody."""

    rate_per_second: float | None = None
    recipient_limits: tuple[RecipientLimit, ...] = ()

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def send(self, message: OutgoingMessage) -> SendResult:
        return SendResult(Outcome.CHANNEL_BROKEN, detail=f"held: {self.reason}")

    def close(self) -> None:
        return None


def build_channel(
    config: ChannelConfig | None, name: str, box: SecretBox | None, ctx: ChannelContext
) -> Channel:
    if config is None:
        return OutboxChannel(ctx.outbox_dir, name)
    if config.broken_reason:
        return HeldChannel(name, f"channel marked broken: {config.broken_reason}")
    builder = providers().get(config.provider)
    if builder is None:
        return HeldChannel(name, f"unknown provider {config.provider!r}")
    try:
        secrets = box.decrypt(config.secrets) if (box and config.secrets) else {}
        return builder(name, dict(config.settings or {}), secrets, ctx)
    except (DunlinError, KeyError, ValueError, TypeError) as exc:
        log.warning("channel %s (%s) cannot be built: %s", name, config.provider, exc)
        return HeldChannel(name, f"configuration: {exc}")


class ChannelSet:
    """The channels one batch uses, built on first use and closed together (one SMTP
    connection per batch, one token fetch per batch at most)."""

    def __init__(
        self, configs: dict[str, ChannelConfig], box: SecretBox | None, ctx: ChannelContext
    ) -> None:
        self.configs = configs
        self.box = box
        self.ctx = ctx
        self._live: dict[str, Channel] = {}

    @classmethod
    def load(
        cls, session: Session, org_id: int, box: SecretBox | None, ctx: ChannelContext
    ) -> ChannelSet:
        rows = session.scalars(select(ChannelConfig).where(ChannelConfig.org_id == org_id))
        return cls({c.name: c for c in rows}, box, ctx)

    def get(self, name: str) -> Channel:
        if name not in self._live:
            self._live[name] = build_channel(self.configs.get(name), name, self.box, self.ctx)
        return self._live[name]

    def close(self) -> None:
        for channel in self._live.values():
            try:
                channel.close()
            except Exception:  # noqa: BLE001 - closing must not hide the batch's outcome
                log.exception("closing channel %s failed", channel.name)
        self._live.clear()
