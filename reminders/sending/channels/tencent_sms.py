"""Tencent Cloud SMS (SendSms 2021-01-11) signed with TC3-HMAC-SHA256.

A request can succeed while its number fails, so the per-number `SendStatusSet[].Code` decides;
a whole-request failure is `Response.Error.Code`. Codes are classified per docs/reference/channels.md §2.2.
"""

from __future__ import annotations

import json
import time
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
    require,
    status_failure,
    template_for,
)
from reminders.sending.channels.signing import tc3_authorization

CODES: dict[Outcome, tuple[str, ...]] = {
    Outcome.RETRY_LATER: (
        "LimitExceeded.DeliveryFrequencyLimit",
        "LimitExceeded.PhoneNumberThirtySecondLimit",
        "LimitExceeded.PhoneNumberOneHourLimit",
        "LimitExceeded.GlobalSmsSendingRateLimit",
        "RequestLimitExceeded*",
        "InternalError.Timeout",
        "InternalError.SendAndRecvFail",
        "InternalError.OtherError",
        "InternalError.UnknownError",
        "FailedOperation.MarketingSendTimeConstraint",
    ),
    Outcome.RETRY_TOMORROW: (
        "LimitExceeded.PhoneNumberDailyLimit",
        "LimitExceeded.PhoneNumberSameContentDailyLimit",
        "LimitExceeded.AppDailyLimit",
        "LimitExceeded.DailyLimit",
        "LimitExceeded.AppGlobalDailyLimit",
        "LimitExceeded.AppMainlandChinaDailyLimit",
        "LimitExceeded.AppCountryOrRegionDailyLimit",
    ),
    Outcome.PERMANENT_RECIPIENT: (
        "InvalidParameterValue.IncorrectPhoneNumber",
        "FailedOperation.PhoneNumberParseFail",
        "FailedOperation.PhoneNumberInBlacklist",
        "LimitExceeded.AppCountryOrRegionInBlacklist",
    ),
}


class TencentSms:
    rate_per_second: float | None = None
    recipient_limits: tuple[RecipientLimit, ...] = ()

    def __init__(
        self, name: str, settings: dict[str, Any], secrets: dict[str, Any], ctx: ChannelContext
    ) -> None:
        require(settings, secrets, "secret_id", "secret_key", "sdk_app_id", "sign_name")
        require(settings, secrets, "templates")
        self.name = name
        self.settings = settings
        self.secret_id = settings["secret_id"]
        self.secret_key = secrets["secret_key"]
        self.host = settings.get("host", "sms.tencentcloudapi.com")
        self.region = settings.get("region", "ap-guangzhou")
        self.timeout = float(settings.get("timeout", 10))
        if settings.get("per_number_per_day"):
            self.recipient_limits = (RecipientLimit(int(settings["per_number_per_day"]), 86400),)
        self.ctx = ctx

    def request(self, message: OutgoingMessage, timestamp: int) -> tuple[bytes, dict[str, str]]:
        found = template_for(self.settings, message.template)
        if found is None:
            raise ProviderError(no_template("tencent", message.template))
        code, spec = found
        params = fill_params(spec, message.variables)
        payload = json.dumps(
            {
                "PhoneNumberSet": [message.recipient],
                "SmsSdkAppId": str(self.settings["sdk_app_id"]),
                "TemplateId": code,
                "SignName": self.settings["sign_name"],
                "TemplateParamSet": list(params.values()) if isinstance(params, dict) else params,
                "SessionContext": str(message.metadata.get("reminder_id", message.key))[:500],
            }
        ).encode()  # ensure_ascii, as the SDK: the signature covers these exact bytes
        content_type = "application/json"
        auth = tc3_authorization(
            self.secret_id, self.secret_key, "sms", self.host, content_type, timestamp, payload
        )
        headers = {
            "Content-Type": content_type,
            "Host": self.host,
            "X-TC-Action": "SendSms",
            "X-TC-Version": "2021-01-11",
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.region,
            "Authorization": auth,
        }
        return payload, headers

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            payload, headers = self.request(message, int(time.time()))
            response = call(
                self.ctx,
                "POST",
                f"https://{self.host}/",
                "tencent",
                self.timeout,
                data=payload,
                headers=headers,
            )
        except ProviderError as exc:
            return exc.result
        body = (json_or_none(response) or {}).get("Response")
        if body is None:
            return status_failure(response, "tencent") or SendResult(
                Outcome.RETRY_LATER, detail=f"tencent: unreadable answer {response.status_code}"
            )
        if "Error" in body:
            code = str(body["Error"].get("Code", ""))
            detail = f"tencent: {code}: {body['Error'].get('Message', '')}"
            return SendResult(by_code(code, CODES, Outcome.CHANNEL_BROKEN), detail=detail)
        status = (body.get("SendStatusSet") or [{}])[0]
        code = str(status.get("Code", ""))
        if code == "Ok":
            return SendResult(Outcome.SENT, provider_message_id=status.get("SerialNo"), detail="Ok")
        detail = f"tencent: {code}: {status.get('Message', '')}"
        return SendResult(by_code(code, CODES, Outcome.CHANNEL_BROKEN), detail=detail)

    def close(self) -> None:
        return None
