"""Payment webhooks: a source says an invoice was paid, and its reminders stop in the same
request (usecases.payments.apply_payment).

- Odoo's "Send Webhook Notification" cannot sign and gives up after 1 s: the per-source secret
  sits in the URL path, and the work done before answering is one short transaction. A
  delivery is its body (which carries write_date).
- Jiandaoyun signs nonce, body and timestamp with X-JDY-Signature; its X-JDY-DeliverId is not
  signed, so a delivery is named by what is signed, never by that header.
- Anything else (K3Cloud plug-ins, scripts) signs `Dunlin-Signature: t=<unix>,v2=<hex
  HMAC-SHA256 of "<t>.<Dunlin-Event-Id>.<body>">`, checked within a tolerance window: the id is
  signed, so a captured notice cannot come back under a new one, and each id is accepted once.

Every delivery is recorded in SQL (sync.deliveries) in the transaction that applies it, and
every notice is ordered by the source's own timestamp (usecases.payments.judge): a late one is
acknowledged and changes nothing, and only an explicit `reopen` reopens a settled invoice.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from mappings.coerce import parse_datetime
from sync.models import Source
from sync.sources import open_webhook_secret
from usecases.payments import (
    APPLIED,
    NoticeError,
    PaymentResult,
    notice_reader,
    read_notice,
    settle_notice,
)
from webhooks.edge import dunlin_app, json_body, refuse, secret_box
from webhooks.signatures import DELIVERY_ID, verify_jiandaoyun, verify_signed_delivery

bp = Blueprint("payments", __name__, url_prefix="/hooks")
TOLERANCE_SECONDS = 300
SOURCE_CACHE_SECONDS = 5.0
SOURCE_CACHE_SIZE = 1000


@dataclass(frozen=True)
class HookSource:
    id: int
    org_id: int
    mapping: str
    secret: str


def _source(source_id: int) -> HookSource:
    """The source and its decrypted secret, kept per process for SOURCE_CACHE_SECONDS: a
    webhook must not pay a query and a decryption for them every time (a new secret takes
    effect within that time)."""
    cache: dict[int, tuple[float, HookSource | None]]
    cache = current_app.extensions.setdefault("dunlin_hook_sources", {})
    now = time.monotonic()
    expires, found = cache.get(source_id, (0.0, None))
    if expires < now:
        found = _load_source(source_id)
        if len(cache) >= SOURCE_CACHE_SIZE:  # unknown ids must not grow it without bound
            cache.clear()
        cache[source_id] = (now + SOURCE_CACHE_SECONDS, found)
    if found is None:
        refuse(404, "unknown_source", "no such source / 数据源不存在")
    if not found.secret:
        refuse(403, "webhooks_disabled", "this source has no webhook secret / 该数据源未启用回调")
    return found


def _load_source(source_id: int) -> HookSource | None:
    query = select(Source.org_id, Source.mapping, Source.webhook_secret_encrypted).where(
        Source.id == source_id
    )
    with dunlin_app().engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    secret = open_webhook_secret(secret_box(), row.webhook_secret_encrypted) or ""
    return HookSource(source_id, row.org_id, row.mapping, secret)


@bp.post("/odoo/<int:source_id>/<path_secret>")
def odoo(source_id: int, path_secret: str) -> ResponseReturnValue:
    source = _source(source_id)
    if not hmac.compare_digest(source.secret.encode(), path_secret.encode()):
        refuse(401, "bad_secret", "the secret in the URL is wrong / 地址中的密钥不正确")
    payload = json_body()
    if not isinstance(payload, dict) or "_id" not in payload:
        refuse(422, "bad_payload", "expected Odoo's webhook payload with `_id` / 缺少 _id")
    record = {**payload, "id": payload["_id"]}
    # Odoo sends no delivery id; the same body twice is the same news.
    delivery = hashlib.sha256(request.get_data()).hexdigest()
    return _apply(source, record, "odoo", delivery)


@bp.post("/jiandaoyun/<int:source_id>")
def jiandaoyun(source_id: int) -> ResponseReturnValue:
    source = _source(source_id)
    ok = verify_jiandaoyun(
        request.headers.get("X-JDY-Signature", ""),
        request.args.get("nonce", ""),
        request.get_data(),
        source.secret,
        request.args.get("timestamp", ""),
        now=time.time(),
        tolerance_seconds=TOLERANCE_SECONDS,
    )
    if not ok:
        refuse(401, "bad_signature", "X-JDY-Signature is wrong or stale / 签名错误或已过期")
    if not request.headers.get("X-JDY-DeliverId", ""):
        refuse(400, "no_delivery_id", "X-JDY-DeliverId is missing / 缺少 X-JDY-DeliverId")
    payload = json_body()
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        refuse(422, "bad_payload", "expected {op, data} / 应为 {op, data}")
    # X-JDY-DeliverId is outside the signature: a replay could carry any value. What is signed
    # names the delivery instead; a resend signed afresh is the same state again (judge).
    signed = b"\0".join(
        [
            request.args.get("nonce", "").encode(),
            request.args["timestamp"].encode(),
            request.get_data(),
        ]
    )
    return _apply(source, data, "jiandaoyun", "signed:" + hashlib.sha256(signed).hexdigest())


@bp.post("/payments/<int:source_id>")
def generic(source_id: int) -> ResponseReturnValue:
    source = _source(source_id)
    delivery = request.headers.get("Dunlin-Event-Id", "")
    if not delivery:
        refuse(400, "no_event_id", "Dunlin-Event-Id is missing / 缺少 Dunlin-Event-Id")
    if not DELIVERY_ID.fullmatch(delivery):
        refuse(
            400, "bad_event_id", "Dunlin-Event-Id: 1-200 of A-Z a-z 0-9 _ : - / 事件 ID 格式错误"
        )
    reason = verify_signed_delivery(
        request.headers.get("Dunlin-Signature", ""),
        delivery,
        request.get_data(),
        [source.secret],
        now=time.time(),
        tolerance_seconds=TOLERANCE_SECONDS,
    )
    if reason:
        refuse(401, "bad_signature", f"Dunlin-Signature: {reason}")
    payload = json_body()
    record = payload.get("record") if isinstance(payload, dict) else None
    if not isinstance(record, dict):
        refuse(422, "bad_payload", 'expected {"record": {...}} / 应为 {record: {...}}')
    reopen = payload.get("reopen", False)
    if not isinstance(reopen, bool):
        refuse(422, "bad_payload", "reopen: expected true or false / reopen 应为布尔值")
    reader = notice_reader(source.mapping)
    version = _occurred_at(payload.get("occurred_at"), reader.timezone)
    return _apply(source, record, "generic", delivery, version=version, reopen=reopen)


def _occurred_at(value: Any, timezone: str) -> datetime | None:
    """The generic hook's `occurred_at`: when the source's record was in this state (RFC 3339,
    or Unix seconds or milliseconds; without an offset, in the mapping's timezone, as sync
    reads the source's datetimes). Orders the notice, before the mapping's
    `source_updated_at` field of the record."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        refuse(422, "bad_payload", "occurred_at: expected a date and time / 应为时间")
    try:
        return parse_datetime(value, timezone)
    except ValueError as exc:
        refuse(422, "bad_payload", f"occurred_at: {exc}")


def _apply(
    source: HookSource,
    record: dict[str, Any],
    kind: str,
    delivery: str,
    *,
    version: datetime | None = None,
    reopen: bool = False,
) -> ResponseReturnValue:
    try:
        notice = read_notice(notice_reader(source.mapping), record, version=version, reopen=reopen)
    except NoticeError as exc:
        refuse(422, "bad_payload", str(exc))
    once = (f"payment:{source.id}", delivery)
    engine = dunlin_app().engine
    result = settle_notice(engine, source.org_id, source.id, notice, f"webhook:{kind}", once)
    if result.duplicate:
        return jsonify(status="duplicate", external_id=notice.external_id)
    return jsonify(_body(notice.external_id, result)), 200 if result.found else 202


def _body(external_id: str, result: PaymentResult) -> dict[str, Any]:
    if not result.found:
        return {"status": "unknown_invoice", "external_id": external_id}
    if result.outcome != APPLIED:
        # Acknowledged (a sender must not retry it) and recorded as a payment.ignored event.
        return {
            "status": "ignored",
            "reason": result.outcome,
            "external_id": external_id,
            "receivable_status": result.status,
            "amount_open": str(result.amount_open),
        }
    return {
        "status": "applied",
        "external_id": external_id,
        "receivable_status": result.status,
        "amount_open": str(result.amount_open),
        "reminders_cancelled": result.cancelled,
        "reminders_in_flight": result.in_flight,
    }
