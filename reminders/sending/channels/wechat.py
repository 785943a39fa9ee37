"""WeChat Official Account (公众号) template messages to a customer's openid.

The stable-token endpoint is used (a classic refresh would invalidate other holders' tokens).
The template id and its fields come from the channel's `templates` mapping; `msgid` is kept so
the TEMPLATESENDJOBFINISH receipt can be matched.
"""

from __future__ import annotations

from typing import Any

from reminders.sending.channels.base import Outcome, OutgoingMessage, RecipientLimit, SendResult
from reminders.sending.channels.http import (
    ChannelContext,
    ProviderError,
    by_code,
    call,
    fill_params,
    json_or_none,
    no_template,
    post_with_token,
    require,
    template_for,
)
from reminders.sending.channels.tokens import cache_key

CODES: dict[Outcome, tuple[str, ...]] = {
    Outcome.RETRY_LATER: ("-1",),
    Outcome.RETRY_TOMORROW: ("45009",),
    Outcome.PERMANENT_RECIPIENT: ("43004", "43101", "40003"),
}
BASE = "https://api.weixin.qq.com"


class WechatTemplate:
    rate_per_second: float | None = None
    recipient_limits: tuple[RecipientLimit, ...] = ()

    def __init__(
        self, name: str, settings: dict[str, Any], secrets: dict[str, Any], ctx: ChannelContext
    ) -> None:
        require(settings, secrets, "app_id", "app_secret", "templates")
        self.name = name
        self.settings = settings
        self.app_id = settings["app_id"]
        self.secret = secrets["app_secret"]
        self.base = settings.get("base_url", BASE).rstrip("/")
        self.timeout = float(settings.get("timeout", 10))
        self.ctx = ctx
        self.token_key = cache_key("wechat", self.base, self.app_id, self.secret)

    def _fetch_token(self) -> tuple[str, float]:
        response = call(
            self.ctx,
            "POST",
            f"{self.base}/cgi-bin/stable_token",
            "wechat",
            self.timeout,
            json={"grant_type": "client_credential", "appid": self.app_id, "secret": self.secret},
        )
        body = json_or_none(response) or {}
        if body.get("access_token"):
            return body["access_token"], float(body.get("expires_in", 7200))
        code = str(body.get("errcode", response.status_code))
        raise ProviderError(
            SendResult(
                by_code(code, {Outcome.RETRY_LATER: ("-1", "45009")}, Outcome.CHANNEL_BROKEN),
                detail=f"wechat stable_token: {code}: {body.get('errmsg', '')}",
            )
        )

    def body(self, message: OutgoingMessage) -> dict[str, Any]:
        found = template_for(self.settings, message.template)
        if found is None:
            raise ProviderError(no_template("wechat", message.template))
        template_id, spec = found
        fields = fill_params(spec, message.variables)
        data = (
            {k: {"value": v} for k, v in dict(fields).items()} if isinstance(fields, dict) else {}
        )
        body: dict[str, Any] = {
            "touser": message.recipient,
            "template_id": template_id,
            "data": data,
        }
        link = message.variables.get("self_service_url") or message.variables.get("payment_url")
        if link:
            body["url"] = link
        return body

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            body = post_with_token(
                self.ctx,
                self.token_key,
                self._fetch_token,
                f"{self.base}/cgi-bin/message/template/send",
                "wechat",
                self.timeout,
                self.body(message),
            )
        except ProviderError as exc:
            return exc.result
        code = str(body.get("errcode", ""))
        if code == "0":
            return SendResult(Outcome.SENT, provider_message_id=str(body.get("msgid")), detail="ok")
        detail = f"wechat: errcode {code}: {body.get('errmsg', '')}"
        return SendResult(by_code(code, CODES, Outcome.CHANNEL_BROKEN), detail=detail)

    def close(self) -> None:
        return None
