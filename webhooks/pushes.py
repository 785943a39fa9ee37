"""Data-change pushes from REST sources (Xbongbong, YonSuite): verify, then sync what changed.

A push carries ids, not values, so after its signature (and, for YonSuite, its sealed
envelope) checks out, it asks for an incremental sync of the entities its event type maps to
(`source.push` in the mapping) and answers at once; Xbongbong gives up after 3 s. A payment
shows up as the receivable's new open amount, and the sync stops its reminders in the same
transaction that records it.

Replays: YonSuite events carry a timestamp (checked against a tolerance) and are accepted once
per event id (or per signature). Xbongbong's push has neither a timestamp nor a delivery id,
and two edits of one record send identical bodies, so a repeat cannot be told from news; it is
harmless because all a push can do is start an idempotent sync.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import jmespath
from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from dunlin.db import transaction
from mappings import MappingError, current_mapping
from mappings.api import RestPush
from sync.deliveries import first_delivery
from sync.models import Source
from sync.sources import credentials_of
from sync.trigger import PushSyncs
from webhooks.edge import connector_factory, dunlin_app, json_body, log, refuse, secret_box
from webhooks.signatures import (
    unix_time,
    verify_xbongbong,
    yonsuite_decrypt,
    yonsuite_event_signature,
)

bp = Blueprint("pushes", __name__, url_prefix="/hooks")
# The order the Xbongbong starter re-serializes a payload in before hashing it (fallback when
# the raw body does not match: docs/reference/rest-vendors.md §4.6).
XBONGBONG_ORDER = ("formId", "operate", "corpid", "dataId", "type", "saasMark")


def push_syncs() -> PushSyncs:
    extensions = current_app.extensions
    if "dunlin_push_syncs" not in extensions:
        extensions["dunlin_push_syncs"] = PushSyncs(dunlin_app(), connector_factory())
    return extensions["dunlin_push_syncs"]


@bp.post("/push/<int:source_id>")
def push(source_id: int) -> ResponseReturnValue:
    source, config, credentials = _source(source_id)
    secret = RestPush.first(credentials, config.secret)
    if not secret:
        names = " / ".join(RestPush.names(config.secret))
        refuse(403, "push_disabled", f"credential `{names}` is not set / 未配置推送密钥")
    if config.scheme == "xbongbong":
        event, delivery = _xbongbong(secret, credentials), None
    else:
        receive_id = RestPush.first(credentials, config.receive_id)
        event, delivery = _yonsuite(secret, receive_id, config.tolerance_seconds)
    if config.event_id_path:
        found = jmespath.search(config.event_id_path, event)
        delivery = str(found) if found not in (None, "") else delivery
    event_type = str(jmespath.search(config.type_path, event) or "").strip()
    entities = config.entities.get(event_type)
    if entities is None:
        log.info(
            "push to source %s: event type %r is not in the mapping's push.entities (fields: %s)",
            source.id,
            event_type,
            ", ".join(sorted(event)),
        )
        return _answer(config, status="ignored", type=event_type)
    if delivery is not None:
        with transaction(dunlin_app().factory) as session:
            if not first_delivery(
                session.connection(), source.org_id, f"push:{source.id}", delivery
            ):
                return _answer(config, status="duplicate", type=event_type)
    outcome = push_syncs().request(source.id, entities)
    return _answer(config, status="accepted", type=event_type, sync=outcome, entities=entities)


def _source(source_id: int) -> tuple[Source, RestPush, dict[str, Any]]:
    with dunlin_app().factory() as session:
        source = session.scalar(select(Source).where(Source.id == source_id))
        if source is None:
            refuse(404, "unknown_source", "no such source / 数据源不存在")
        session.expunge(source)
    try:
        config = getattr(getattr(current_mapping(source.mapping), "source", None), "push", None)
    except MappingError as exc:
        log.error("push to source %s: its mapping does not load: %s", source.id, exc)
        refuse(409, "mapping_invalid", "the source's mapping has errors / 数据源映射有误")
    if config is None:
        refuse(404, "push_not_configured", "this source's mapping takes no pushes / 映射未配置推送")
    return source, config, credentials_of(secret_box(), source)


def _xbongbong(webhook_token: str, credentials: dict[str, Any]) -> dict[str, Any]:
    raw = request.get_data()
    signature = request.headers.get("sign", "")
    payload = json_body()
    if not isinstance(payload, dict):
        refuse(422, "bad_payload", "expected a JSON object / 应为 JSON 对象")
    if not (
        verify_xbongbong(signature, raw, webhook_token)
        or verify_xbongbong(signature, _reserialized(payload), webhook_token)
    ):
        refuse(401, "bad_signature", "header `sign` is wrong / sign 签名错误")
    corpid = credentials.get("corpid")
    if corpid and payload.get("corpid") != corpid:
        refuse(403, "wrong_corpid", "the push names another company / corpid 不匹配")
    return payload


def _reserialized(payload: dict[str, Any]) -> bytes:
    ordered = {key: payload[key] for key in XBONGBONG_ORDER if key in payload}
    ordered.update({k: v for k, v in payload.items() if k not in ordered})
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":")).encode()


def _yonsuite(app_secret: str, app_key: str | None, tolerance: int) -> tuple[dict[str, Any], str]:
    body = json_body()
    fields = ("nonce", "timestamp", "encrypt", "signature")
    if not isinstance(body, dict) or any(not body.get(f) for f in fields):
        refuse(422, "bad_payload", "expected {nonce, timestamp, encrypt, signature} / 缺少字段")
    nonce, stamp, encrypt, signature = (str(body[f]) for f in fields)
    expected = yonsuite_event_signature(app_secret, nonce, encrypt, stamp)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        refuse(401, "bad_signature", "the event signature is wrong / 事件签名错误")
    seconds = unix_time(stamp)
    if seconds is None or abs(time.time() - _seconds(seconds)) > tolerance:
        refuse(401, "stale", "the event's timestamp is outside the tolerance / 事件时间戳过期")
    try:
        message, sealed_for = yonsuite_decrypt(app_secret, encrypt)
        event = json.loads(message)
    except (ValueError, UnicodeDecodeError) as exc:
        refuse(422, "bad_envelope", f"the event does not decrypt: {exc} / 事件无法解密")
    if app_key and sealed_for != app_key:
        refuse(403, "wrong_app", "the event was sealed for another app / 事件不属于本应用")
    if not isinstance(event, dict):
        refuse(422, "bad_payload", "the event is not a JSON object / 事件不是 JSON 对象")
    return event, "sig:" + hashlib.sha256(signature.encode()).hexdigest()


def _seconds(stamp: int) -> float:
    """Milliseconds (the platform's usual unit) or seconds: the unit of events is a GUESS."""
    return stamp / 1000 if stamp > 10**11 else stamp


def _answer(config: RestPush, **body: Any) -> Response:
    if config.reply is not None:
        return Response(config.reply, content_type="text/plain; charset=utf-8")
    return jsonify(body)
