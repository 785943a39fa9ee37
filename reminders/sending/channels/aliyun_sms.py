"""Alibaba Cloud SMS (dysmsapi SendSms) signed with ACS3-HMAC-SHA256.

Business failures come back as HTTP 200 with `Code` ≠ `OK`; they are classified from the
reference table (docs/reference/channels.md §1.2). `OK` means accepted, not delivered: delivery comes from the
SmsReport push, matched on `BizId` (stored as the provider message id) or our `OutId`.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from reminders.sending.channels.base import Outcome, OutgoingMessage, RecipientLimit, SendResult
from reminders.sending.channels.http import (
    ChannelContext,
    ProviderError,
    by_code,
    call,
    fill_params,
    json_or_none,
    no_template,
    require,
    status_failure,
    template_for,
)
from reminders.sending.channels.signing import acs3_authorization

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

CODES: dict[Outcome, tuple[str, ...]] = {
    Outcome.RETRY_LATER: ("isp.SYSTEM_ERROR", "ServiceUnavailable", "Throttling*"),
    Outcome.RETRY_TOMORROW: ("isv.DAY_LIMIT_CONTROL", "isv.MONTH_LIMIT_CONTROL"),
    Outcome.PERMANENT_RECIPIENT: ("isv.MOBILE_NUMBER_ILLEGAL", "isv.DOMESTIC_NUMBER_NOT_SUPPORTED"),
    Outcome.CHANNEL_BROKEN: (
        "isv.OUT_OF_SERVICE",
        "isv.PRODUCT_UN_SUBSCRIPT",
        "isv.PRODUCT_UNSUBSCRIBE",
        "isv.ACCOUNT_NOT_EXISTS",
        "isv.ACCOUNT_ABNORMAL",
        "isp.RAM_PERMISSION_DENY",
        "isv.DENY_IP_RANGE",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.SMS_SIGN_ILLEGAL",
        "isv.SIGN_STATE_ILLEGAL",
        "isv.SMS_SIGNATURE_SCENE_ILLEGAL",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.INVALID_JSON_PARAM",
        "isv.INVALID_PARAMETERS",
        "isv.PARAM_LENGTH_LIMIT",
        "isv.PARAM_NOT_SUPPORT_URL",
        "isv.SMS_CONTENT_ILLEGAL",
        "isv.BLACK_KEY_CONTROL_LIMIT",
        "isv.EXTEND_CODE_ERROR",
        "isv.MOBILE_COUNT_OVER_LIMIT",
        "InvalidAccessKeyId*",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
    ),
}


def classify(code: str, message: str) -> Outcome:
    if code == "isv.BUSINESS_LIMIT_CONTROL":  # the message says which window: 分钟级/小时级/天级
        return (
            Outcome.RETRY_TOMORROW
            if ("天级" in message or "day" in message.lower())
            else (Outcome.RETRY_LATER)
        )
    return by_code(code, CODES, Outcome.CHANNEL_BROKEN)


class AliyunSms:
    rate_per_second: float | None = None
    # Default anti-abuse cap: same signature + template → same number, 50 per day (REPORTED).
    recipient_limits: tuple[RecipientLimit, ...] = (RecipientLimit(50, 86400, per_template=True),)

    def __init__(
        self, name: str, settings: dict[str, Any], secrets: dict[str, Any], ctx: ChannelContext
    ) -> None:
        require(settings, secrets, "access_key_id", "access_key_secret", "sign_name", "templates")
        self.name = name
        self.settings = settings
        self.key_id = settings["access_key_id"]
        self.secret = secrets["access_key_secret"]
        self.endpoint = settings.get("endpoint", "https://dysmsapi.aliyuncs.com").rstrip("/")
        self.host = self.endpoint.split("://", 1)[-1]
        self.timeout = float(settings.get("timeout", 10))
        if settings.get("per_number_per_day"):
            self.recipient_limits = (
                RecipientLimit(int(settings["per_number_per_day"]), 86400, per_template=True),
            )
        if settings.get("rate_per_second"):
            self.rate_per_second = float(settings["rate_per_second"])
        self.ctx = ctx

    def request(self, message: OutgoingMessage, now: datetime, nonce: str) -> tuple[str, dict]:
        """The signed request: (URL with query, headers)."""
        found = template_for(self.settings, message.template)
        if found is None:
            raise ProviderError(no_template("aliyun", message.template))
        code, spec = found
        params = fill_params(spec, message.variables)
        query = {
            "PhoneNumbers": message.recipient,
            "SignName": self.settings["sign_name"],
            "TemplateCode": code,
            "TemplateParam": json.dumps(params, ensure_ascii=False, separators=(",", ":")),
            "OutId": str(message.metadata.get("reminder_id", message.key))[:64],
        }
        headers = {
            "host": self.host,
            "x-acs-action": "SendSms",
            "x-acs-version": "2017-05-25",
            "x-acs-date": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "x-acs-signature-nonce": nonce,
            "x-acs-content-sha256": EMPTY_SHA256,
        }
        auth = acs3_authorization(self.key_id, self.secret, "POST", "/", query, headers)
        url = (
            self.endpoint
            + "/?"
            + "&".join(f"{k}={quote(str(query[k]), safe='~')}" for k in sorted(query))
        )
        return url, {**headers, "Authorization": auth, "accept": "application/json"}

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            url, headers = self.request(message, datetime.now(UTC), uuid.uuid4().hex)
            response = call(self.ctx, "POST", url, "aliyun", self.timeout, headers=headers)
        except ProviderError as exc:
            return exc.result
        body = json_or_none(response) or {}
        code, text = str(body.get("Code", "")), str(body.get("Message", ""))
        if code == "OK":
            return SendResult(Outcome.SENT, provider_message_id=body.get("BizId"), detail="OK")
        if not code:
            failure = status_failure(response, "aliyun")
            if failure:
                return failure
        detail = f"aliyun: {code or response.status_code}: {text or response.text[:200]}"
        return SendResult(classify(code, text), detail=detail)

    def close(self) -> None:
        return None
