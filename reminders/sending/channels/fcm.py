"""Firebase Cloud Messaging HTTP v1 to one device token.

The service account's RS256 JWT (PyJWT) is exchanged for an OAuth2 access token, cached for
every worker. The reminder id travels in `data` so the app can report opens and clicks.
"""

from __future__ import annotations

import json
import time
from typing import Any

import jwt

from reminders.sending.channels.base import Outcome, OutgoingMessage, RecipientLimit, SendResult
from reminders.sending.channels.http import (
    ChannelContext,
    ProviderError,
    by_code,
    cached_token,
    call,
    json_or_none,
    require,
    retry_after,
)
from reminders.sending.channels.tokens import cache_key

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
CODES: dict[Outcome, tuple[str, ...]] = {
    Outcome.RETRY_LATER: ("QUOTA_EXCEEDED", "RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL"),
    Outcome.PERMANENT_RECIPIENT: (
        "UNREGISTERED",
        "SENDER_ID_MISMATCH",
        "INVALID_ARGUMENT",
        "NOT_FOUND",
    ),
}


def fcm_error_code(body: dict[str, Any]) -> str:
    error = body.get("error") or {}
    for detail in error.get("details") or []:
        if str(detail.get("@type", "")).endswith("google.firebase.fcm.v1.FcmError"):
            return str(detail.get("errorCode", ""))
    return str(error.get("status", ""))


class FcmPush:
    rate_per_second: float | None = None
    recipient_limits: tuple[RecipientLimit, ...] = ()

    def __init__(
        self, name: str, settings: dict[str, Any], secrets: dict[str, Any], ctx: ChannelContext
    ) -> None:
        require(settings, secrets, "service_account")
        account = secrets["service_account"]
        self.account = json.loads(account) if isinstance(account, str) else dict(account)
        for field in ("client_email", "private_key", "project_id"):
            if not self.account.get(field):
                raise ValueError(f"the service account JSON has no {field}")
        self.name = name
        self.project = settings.get("project_id") or self.account["project_id"]
        self.token_uri = self.account.get("token_uri", "https://oauth2.googleapis.com/token")
        self.base = settings.get("base_url", "https://fcm.googleapis.com").rstrip("/")
        self.timeout = float(settings.get("timeout", 10))
        self.ctx = ctx
        self.token_key = cache_key("fcm", self.account["client_email"], self.token_uri)

    def assertion(self, now: int) -> str:
        claims = {
            "iss": self.account["client_email"],
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + 3600,
        }
        headers = (
            {"kid": self.account.get("private_key_id")}
            if self.account.get("private_key_id")
            else None
        )
        return jwt.encode(claims, self.account["private_key"], algorithm="RS256", headers=headers)

    def _fetch_token(self) -> tuple[str, float]:
        response = call(
            self.ctx,
            "POST",
            self.token_uri,
            "fcm oauth",
            self.timeout,
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": self.assertion(int(time.time())),
            },
        )
        body = json_or_none(response) or {}
        if response.status_code == 200 and body.get("access_token"):
            return body["access_token"], float(body.get("expires_in", 3600))
        outcome = Outcome.RETRY_LATER if response.status_code >= 500 else Outcome.CHANNEL_BROKEN
        raise ProviderError(SendResult(outcome, detail=f"fcm oauth: {response.status_code} {body}"))

    def body(self, message: OutgoingMessage) -> dict[str, Any]:
        return {
            "message": {
                "token": message.recipient,
                "notification": {"title": message.subject, "body": message.short},
                "data": {
                    "reminder_key": message.key,
                    "reminder_id": str(message.metadata.get("reminder_id", "")),
                },
                "android": {"priority": "high", "collapse_key": message.key[:64]},
                "fcm_options": {"analytics_label": f"dunlin_{message.template}"[:50]},
            }
        }

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            token = cached_token(self.ctx, self.token_key, self._fetch_token)
            response = call(
                self.ctx,
                "POST",
                f"{self.base}/v1/projects/{self.project}/messages:send",
                "fcm",
                self.timeout,
                json=self.body(message),
                headers={"Authorization": f"Bearer {token}"},
            )
        except ProviderError as exc:
            return exc.result
        body = json_or_none(response) or {}
        if response.status_code == 200 and body.get("name"):
            return SendResult(Outcome.SENT, provider_message_id=body["name"], detail="accepted")
        code = fcm_error_code(body)
        detail = f"fcm: HTTP {response.status_code} {code}: {(body.get('error') or {}).get('message', '')}"
        if response.status_code == 401:
            self.ctx.tokens.drop(self.token_key)
        outcome = by_code(code, CODES, Outcome.CHANNEL_BROKEN)
        if response.status_code in (429, 500, 503):
            outcome = Outcome.RETRY_LATER
        return SendResult(outcome, detail=detail, retry_after=retry_after(response))

    def close(self) -> None:
        return None
