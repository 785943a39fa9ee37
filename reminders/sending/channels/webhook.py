"""A signed JSON POST per reminder, for systems that deliver messages themselves.

Signed Stripe-style: `X-Dunlin-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." +
body)>`; `X-Dunlin-Event-Id` is the ledger key, so a receiver can drop a duplicate. 2xx is
success; 408, 429 and 5xx retry; 401/403 mean our secret or URL is wrong; other 4xx are a
permanent refusal of this recipient.
"""

from __future__ import annotations

import json
import time
from typing import Any

from reminders.sending.channels.base import Outcome, OutgoingMessage, RecipientLimit, SendResult
from reminders.sending.channels.http import (
    ChannelContext,
    ProviderError,
    call,
    require,
    status_failure,
)
from reminders.sending.channels.signing import webhook_signature


class WebhookChannel:
    rate_per_second: float | None = None
    recipient_limits: tuple[RecipientLimit, ...] = ()

    def __init__(
        self, name: str, settings: dict[str, Any], secrets: dict[str, Any], ctx: ChannelContext
    ) -> None:
        require(settings, secrets, "url", "signing_secret")
        self.name = name
        self.url = settings["url"]
        self.secret = secrets["signing_secret"]
        self.timeout = float(settings.get("timeout", 10))
        if settings.get("rate_per_second"):
            self.rate_per_second = float(settings["rate_per_second"])
        self.ctx = ctx

    @staticmethod
    def payload(message: OutgoingMessage) -> bytes:
        return json.dumps(
            {
                "type": "reminder",
                "id": message.key,
                "channel": message.channel,
                "to": message.recipient,
                "locale": message.locale,
                "subject": message.subject,
                "text": message.text,
                "short": message.short,
                "html": message.html,
                "template": message.template,
                "variables": message.variables,
                "metadata": message.metadata,
            },
            ensure_ascii=False,
            sort_keys=True,
        ).encode()

    def send(self, message: OutgoingMessage) -> SendResult:
        body = self.payload(message)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Dunlin-Event-Id": message.key,
            "X-Dunlin-Signature": webhook_signature(self.secret, int(time.time()), body),
        }
        try:
            response = call(
                self.ctx, "POST", self.url, "webhook", self.timeout, data=body, headers=headers
            )
        except ProviderError as exc:
            return exc.result
        if 200 <= response.status_code < 300:
            provider_id = response.headers.get("X-Message-Id") or message.key
            return SendResult(
                Outcome.SENT, provider_message_id=provider_id, detail=str(response.status_code)
            )
        return status_failure(response, "webhook") or SendResult(
            Outcome.PERMANENT_RECIPIENT,
            detail=f"webhook: HTTP {response.status_code}: {response.text[:200]}",
        )

    def close(self) -> None:
        return None
