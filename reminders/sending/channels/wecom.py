"""WeCom (企业微信): application messages to members, and group robots for internal notices.

App messages need an access token (cached for every worker, refreshed once on 40001/40014/
42001; a second refusal is a broken channel, never a loop). WeCom silently drops more than 30
messages a minute or 1,000 an hour from one app to one member, so those limits are enforced
here before sending. Listed `invaliduser`s are permanent failures for that recipient.
"""

from __future__ import annotations

from typing import Any

from reminders.sending.channels.base import Outcome, OutgoingMessage, RecipientLimit, SendResult
from reminders.sending.channels.http import (
    ChannelContext,
    ProviderError,
    by_code,
    call,
    errcode_token,
    json_or_none,
    post_with_token,
    require,
    status_failure,
)
from reminders.sending.channels.tokens import cache_key

CODES: dict[Outcome, tuple[str, ...]] = {
    Outcome.RETRY_LATER: ("-1", "45009", "45033"),
    Outcome.PERMANENT_RECIPIENT: ("81013", "60111", "40031"),
}
BASE = "https://qyapi.weixin.qq.com"


def errcode_result(
    body: dict[str, Any], provider: str, message_id: str | None = None
) -> SendResult:
    code = str(body.get("errcode", ""))
    if code == "0":
        return SendResult(Outcome.SENT, provider_message_id=message_id, detail="ok")
    detail = f"{provider}: errcode {code}: {body.get('errmsg', '')}"
    return SendResult(by_code(code, CODES, Outcome.CHANNEL_BROKEN), detail=detail)


class WecomApp:
    rate_per_second: float | None = None
    recipient_limits: tuple[RecipientLimit, ...] = (
        RecipientLimit(30, 60),
        RecipientLimit(1000, 3600),
    )

    def __init__(
        self, name: str, settings: dict[str, Any], secrets: dict[str, Any], ctx: ChannelContext
    ) -> None:
        require(settings, secrets, "corp_id", "agent_id", "secret")
        self.name = name
        self.corp_id = settings["corp_id"]
        self.agent_id = int(settings["agent_id"])
        self.secret = secrets["secret"]
        self.msgtype = settings.get("msgtype", "textcard")  # text | markdown | textcard
        self.base = settings.get("base_url", BASE).rstrip("/")
        self.timeout = float(settings.get("timeout", 10))
        self.ctx = ctx
        self.token_key = cache_key("wecom", self.base, self.corp_id, self.secret)

    def _fetch_token(self) -> tuple[str, float]:
        return errcode_token(
            self.ctx,
            f"{self.base}/cgi-bin/gettoken",
            {"corpid": self.corp_id, "corpsecret": self.secret},
            "wecom",
            self.timeout,
            lambda body: errcode_result(body, "wecom gettoken"),
        )

    def body(self, message: OutgoingMessage) -> dict[str, Any]:
        link = message.variables.get("self_service_url") or message.variables.get("payment_url")
        content: dict[str, Any]
        if self.msgtype == "textcard":
            content = {
                "title": message.subject[:128],
                "description": message.short[:512],
                "url": link or "https://work.weixin.qq.com/",
                "btntxt": "详情" if message.locale.startswith("zh") else "Details",
            }
        else:
            content = {"content": message.short if self.msgtype == "text" else message.text}
        return {
            "touser": message.recipient,
            "msgtype": self.msgtype,
            "agentid": self.agent_id,
            self.msgtype: content,
            "safe": 0,
        }

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            body = post_with_token(
                self.ctx,
                self.token_key,
                self._fetch_token,
                f"{self.base}/cgi-bin/message/send",
                "wecom",
                self.timeout,
                self.body(message),
            )
        except ProviderError as exc:
            return exc.result
        if body.get("errcode") == 0 and body.get("invaliduser"):
            return SendResult(
                Outcome.PERMANENT_RECIPIENT, detail=f"wecom: invalid user {body['invaliduser']}"
            )
        return errcode_result(body, "wecom", str(body.get("msgid") or "") or None)

    def close(self) -> None:
        return None


class WecomRobot:
    """A group robot (key in the URL is the only credential); for internal notices."""

    rate_per_second: float | None = 20 / 60  # 20 messages a minute per robot
    recipient_limits: tuple[RecipientLimit, ...] = ()

    def __init__(
        self, name: str, settings: dict[str, Any], secrets: dict[str, Any], ctx: ChannelContext
    ) -> None:
        require(settings, secrets, "key")
        self.name = name
        self.key = secrets.get("key") or settings["key"]
        self.base = settings.get("base_url", BASE).rstrip("/")
        self.markdown = settings.get("msgtype", "text") == "markdown"
        self.timeout = float(settings.get("timeout", 10))
        self.ctx = ctx

    def send(self, message: OutgoingMessage) -> SendResult:
        if self.markdown:
            body = {"msgtype": "markdown", "markdown": {"content": message.text[:4000]}}
        else:  # text ≤ 2048 bytes
            text = message.short.encode()[:2048].decode(errors="ignore")
            body = {"msgtype": "text", "text": {"content": text}}
        try:
            response = call(
                self.ctx,
                "POST",
                f"{self.base}/cgi-bin/webhook/send",
                "wecom robot",
                self.timeout,
                params={"key": self.key},
                json=body,
            )
        except ProviderError as exc:
            return exc.result
        failure = status_failure(response, "wecom robot")
        return failure or errcode_result(json_or_none(response) or {}, "wecom robot")

    def close(self) -> None:
        return None
