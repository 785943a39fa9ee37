"""JPush (极光推送) REST v3 to one registration id, HTTP Basic over AppKey:MasterSecret."""

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
    Outcome.RETRY_LATER: ("2002", "1030"),
    Outcome.PERMANENT_RECIPIENT: ("1011",),
    Outcome.CHANNEL_BROKEN: ("1004", "1002", "1003", "1005"),
}


class JPush:
    rate_per_second: float | None = None
    recipient_limits: tuple[RecipientLimit, ...] = ()

    def __init__(
        self, name: str, settings: dict[str, Any], secrets: dict[str, Any], ctx: ChannelContext
    ) -> None:
        require(settings, secrets, "app_key", "master_secret")
        self.name = name
        self.auth = (settings["app_key"], secrets["master_secret"])
        self.url = settings.get("url", "https://api.jpush.cn/v3/push")
        self.production = bool(settings.get("apns_production", True))
        self.timeout = float(settings.get("timeout", 10))
        self.ctx = ctx

    def body(self, message: OutgoingMessage) -> dict[str, Any]:
        extras = {"reminder_key": message.key}
        return {
            "platform": "all",
            "audience": {"registration_id": [message.recipient]},
            "notification": {
                "alert": message.short,
                "android": {"alert": message.short, "title": message.subject, "extras": extras},
                "ios": {"alert": message.short, "sound": "default", "extras": extras},
            },
            "options": {"time_to_live": 86400, "apns_production": self.production},
        }

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            response = call(
                self.ctx,
                "POST",
                self.url,
                "jpush",
                self.timeout,
                json=self.body(message),
                auth=self.auth,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
        except ProviderError as exc:
            return exc.result
        body = json_or_none(response) or {}
        if response.status_code == 200 and body.get("msg_id"):
            return SendResult(Outcome.SENT, provider_message_id=str(body["msg_id"]), detail="ok")
        error = body.get("error") or {}
        code = str(error.get("code", ""))
        detail = f"jpush: HTTP {response.status_code} {code}: {error.get('message', '')}"
        return rest_error(response, code, CODES, detail)

    def close(self) -> None:
        return None
