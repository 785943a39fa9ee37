"""DingTalk (钉钉): the signed custom group robot, and work notifications to a member.

Errors arrive in HTTP 200 bodies, so `errcode` is always checked (Apprise does not). Work
notifications refuse the same content to the same member twice a day; our texts carry the
date and amount, so that only bites a real duplicate.
"""

from __future__ import annotations

import time
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
from reminders.sending.channels.signing import dingtalk_sign
from reminders.sending.channels.tokens import cache_key

BASE = "https://oapi.dingtalk.com"
CODES: dict[Outcome, tuple[str, ...]] = {
    Outcome.RETRY_LATER: ("-1", "130101", "143103", "143104", "90018"),
    Outcome.PERMANENT_RECIPIENT: ("33012", "40103"),
}
TOO_FAST_WAIT = 600.0  # a robot over 20/min is throttled for 10 minutes


def _result(body: dict[str, Any], provider: str, message_id: str | None = None) -> SendResult:
    code = str(body.get("errcode", ""))
    if code == "0":
        return SendResult(Outcome.SENT, provider_message_id=message_id, detail="ok")
    detail = f"{provider}: errcode {code}: {body.get('errmsg', '')} {body.get('sub_code', '')}"
    outcome = by_code(code, CODES, Outcome.CHANNEL_BROKEN)
    wait = TOO_FAST_WAIT if code == "130101" else None
    return SendResult(outcome, detail=detail.strip(), retry_after=wait)


class DingtalkRobot:
    rate_per_second: float | None = 20 / 60
    recipient_limits: tuple[RecipientLimit, ...] = ()

    def __init__(
        self, name: str, settings: dict[str, Any], secrets: dict[str, Any], ctx: ChannelContext
    ) -> None:
        require(settings, secrets, "access_token")
        self.name = name
        self.token = secrets.get("access_token") or settings["access_token"]
        self.secret = secrets.get("secret")  # SEC..., when the robot uses signing
        self.base = settings.get("base_url", BASE).rstrip("/")
        self.timeout = float(settings.get("timeout", 10))
        self.ctx = ctx

    def url(self, timestamp_ms: str) -> str:
        url = f"{self.base}/robot/send?access_token={self.token}"
        if self.secret:
            url += f"&timestamp={timestamp_ms}&sign={dingtalk_sign(self.secret, timestamp_ms)}"
        return url

    def send(self, message: OutgoingMessage) -> SendResult:
        body = {"msgtype": "markdown", "markdown": {"title": message.subject, "text": message.text}}
        try:
            response = call(
                self.ctx,
                "POST",
                self.url(str(int(time.time() * 1000))),
                "dingtalk robot",
                self.timeout,
                json=body,
            )
        except ProviderError as exc:
            return exc.result
        return status_failure(response, "dingtalk robot") or _result(
            json_or_none(response) or {}, "dingtalk robot"
        )

    def close(self) -> None:
        return None


class DingtalkWorkNotice:
    rate_per_second: float | None = None
    recipient_limits: tuple[RecipientLimit, ...] = ()

    def __init__(
        self, name: str, settings: dict[str, Any], secrets: dict[str, Any], ctx: ChannelContext
    ) -> None:
        require(settings, secrets, "app_key", "app_secret", "agent_id")
        self.name = name
        self.app_key = settings["app_key"]
        self.app_secret = secrets["app_secret"]
        self.agent_id = int(settings["agent_id"])
        self.base = settings.get("base_url", BASE).rstrip("/")
        self.timeout = float(settings.get("timeout", 10))
        self.ctx = ctx
        self.token_key = cache_key("dingtalk", self.base, self.app_key, self.app_secret)

    def _fetch_token(self) -> tuple[str, float]:
        return errcode_token(
            self.ctx,
            f"{self.base}/gettoken",
            {"appkey": self.app_key, "appsecret": self.app_secret},
            "dingtalk",
            self.timeout,
            lambda body: _result(body, "dingtalk gettoken"),
        )

    def send(self, message: OutgoingMessage) -> SendResult:
        body = {
            "agent_id": self.agent_id,
            "userid_list": message.recipient,
            "msg": {
                "msgtype": "markdown",
                "markdown": {"title": message.subject, "text": message.text},
            },
        }
        try:
            answer = post_with_token(
                self.ctx,
                self.token_key,
                self._fetch_token,
                f"{self.base}/topapi/message/corpconversation/asyncsend_v2",
                "dingtalk",
                self.timeout,
                body,
            )
        except ProviderError as exc:
            return exc.result
        return _result(answer, "dingtalk", str(answer.get("task_id") or "") or None)

    def close(self) -> None:
        return None
