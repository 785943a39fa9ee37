"""Twilio Programmable Messaging: one form POST per message, HTTP Basic auth.

The answer's `sid` is the provider id that status callbacks carry back. Error codes are
classified per docs/reference/channels.md §3.2 (21610 = the recipient texted STOP).
"""

from __future__ import annotations

from typing import Any

from reminders.sending.channels.base import Outcome, OutgoingMessage, RecipientLimit, SendResult
from reminders.sending.channels.http import (
    ChannelContext,
    ProviderError,
    call,
    json_or_none,
    require,
    rest_error,
)

CODES: dict[Outcome, tuple[str, ...]] = {
    Outcome.RETRY_LATER: ("20429", "30001", "30008", "30003"),
    Outcome.PERMANENT_RECIPIENT: (
        "21211",
        "21614",
        "21612",
        "21635",
        "21610",
        "30005",
        "30006",
        "30004",
    ),
    Outcome.CHANNEL_BROKEN: ("20003", "21606", "21608", "21408", "30002", "30007", "30034"),
}


class TwilioSms:
    rate_per_second: float | None = None
    recipient_limits: tuple[RecipientLimit, ...] = ()

    def __init__(
        self, name: str, settings: dict[str, Any], secrets: dict[str, Any], ctx: ChannelContext
    ) -> None:
        require(settings, secrets, "account_sid", "auth_token")
        if not (settings.get("from") or settings.get("messaging_service_sid")):
            require(settings, secrets, "from")
        self.name = name
        self.settings = settings
        self.account = settings["account_sid"]
        self.auth = (settings.get("api_key_sid") or self.account, secrets["auth_token"])
        base = settings.get("base_url", "https://api.twilio.com").rstrip("/")
        self.url = f"{base}/2010-04-01/Accounts/{self.account}/Messages.json"
        self.timeout = float(settings.get("timeout", 15))
        if settings.get("rate_per_second"):
            self.rate_per_second = float(settings["rate_per_second"])
        self.ctx = ctx

    def form(self, message: OutgoingMessage) -> dict[str, str]:
        form = {"To": message.recipient, "Body": message.short}
        if self.settings.get("messaging_service_sid"):
            form["MessagingServiceSid"] = self.settings["messaging_service_sid"]
        else:
            form["From"] = self.settings["from"]
        if self.settings.get("status_callback"):
            form["StatusCallback"] = self.settings["status_callback"]
        return form

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            response = call(
                self.ctx,
                "POST",
                self.url,
                "twilio",
                self.timeout,
                data=self.form(message),
                auth=self.auth,
                headers={"Accept": "application/json"},
            )
        except ProviderError as exc:
            return exc.result
        body = json_or_none(response) or {}
        if response.status_code in (200, 201) and body.get("sid"):
            return SendResult(
                Outcome.SENT, provider_message_id=body["sid"], detail=body.get("status", "")
            )
        code = str(body.get("code", ""))
        detail = f"twilio: HTTP {response.status_code} {code}: {body.get('message', '')}"
        return rest_error(response, code, CODES, detail)

    def close(self) -> None:
        return None
