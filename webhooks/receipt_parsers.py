"""Provider receipt payloads → `reminders.sending.receipts.Receipt` (pure; docs/reference/channels.md §11).

Statuses a provider reports that say nothing new (queued, sending, accepted) are dropped.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from reminders.core.statuses import CLICKED, DELIVERED, FAILED, READ, REPLIED
from reminders.sending.receipts import Receipt

# Provider words (keys) → the ledger status a receipt reports.
TWILIO = {"delivered": DELIVERED, "read": READ, "undelivered": FAILED, "failed": FAILED}
# Our webhook channel's receiver reports ledger statuses by name.
GENERIC = (DELIVERED, READ, CLICKED, REPLIED, FAILED)


class PayloadError(ValueError):
    """The body is not what this provider sends."""


def twilio(form: dict[str, str]) -> list[Receipt]:
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = TWILIO.get(form.get("MessageStatus") or form.get("SmsStatus") or "")
    if not sid:
        raise PayloadError("MessageSid is missing")
    return [Receipt(sid, status, form.get("ErrorCode", ""))] if status else []


def twilio_json(payload: Any) -> list[Receipt]:
    """A JSON-body status callback. Field names as in the form callback; a CloudEvents-style
    envelope (`data` holding camelCase fields, as Event Streams send) is read too (GUESS: which
    products send JSON status callbacks, and in which shape, is not pinned down: docs/reference/channels.md §3.4)."""
    if not isinstance(payload, dict):
        raise PayloadError("expected a JSON object")
    inner = payload["data"] if isinstance(payload.get("data"), dict) else payload
    fields = {
        key[:1].upper() + key[1:]: str(value)
        for key, value in inner.items()
        if isinstance(key, str) and isinstance(value, str | int) and not isinstance(value, bool)
    }
    return twilio(fields)


def _array(payload: Any) -> list[dict[str, Any]]:
    items = payload if isinstance(payload, list) else [payload]
    if not all(isinstance(i, dict) for i in items):
        raise PayloadError("expected a JSON array of report objects")
    return items


def aliyun(payload: Any) -> list[Receipt]:
    """SmsReport: `success` (bool) and `err_code` (DELIVERED on success), matched on biz_id,
    else on out_id (our ledger key)."""
    out = []
    for item in _array(payload):
        message_id = str(item.get("biz_id") or item.get("out_id") or "")
        ok = item.get("success") in (True, "true") or item.get("err_code") == "DELIVERED"
        detail = f"{item.get('err_code', '')} {item.get('err_msg', '')}".strip()
        out.append(Receipt(message_id, DELIVERED if ok else FAILED, detail))
    return out


def tencent(payload: Any) -> list[Receipt]:
    """Status callback: report_status SUCCESS | FAIL, matched on sid (SendSms's SerialNo)."""
    out = []
    for item in _array(payload):
        status = {"SUCCESS": DELIVERED, "FAIL": FAILED}.get(str(item.get("report_status")))
        if status:
            detail = f"{item.get('errmsg', '')} {item.get('description', '')}".strip()
            out.append(Receipt(str(item.get("sid") or ""), status, detail))
    return out


def generic(payload: Any) -> list[Receipt]:
    """Our webhook channel's receiver answers with {message_id, status, detail?} (one or a list);
    message_id is the event id we sent (the ledger key) or the X-Message-Id it gave back."""
    out = []
    for item in _array(payload):
        status = item.get("status")
        if status not in GENERIC:
            raise PayloadError(f"status must be one of {', '.join(GENERIC)}")
        out.append(Receipt(str(item.get("message_id") or ""), status, str(item.get("detail", ""))))
    return out


def xml_fields(body: bytes) -> dict[str, str]:
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - no DTDs/entities in ElementTree's parser
    except ElementTree.ParseError as exc:
        raise PayloadError(f"not XML: {exc}") from exc
    return {child.tag: (child.text or "") for child in root}


def wechat_event(fields: dict[str, str]) -> list[Receipt]:
    """TEMPLATESENDJOBFINISH: Status `success`, `failed:user block` (permanent) or
    `failed: system failed` (transient; reported as failed with the reason)."""
    if fields.get("Event") != "TEMPLATESENDJOBFINISH":
        return []
    status = fields.get("Status", "")
    return [Receipt(fields.get("MsgID", ""), DELIVERED if status == "success" else FAILED, status)]


def wecom_event(fields: dict[str, str]) -> list[Receipt]:
    """template_card_event: a click on a card we sent with task_id = the ledger key (the field
    names TaskId/EventKey are a GUESS: docs/reference/channels.md §4.5)."""
    if fields.get("Event") != "template_card_event":
        return []
    return [Receipt(fields.get("TaskId", ""), CLICKED, fields.get("EventKey", ""))]
