"""Delivery receipts from providers: `/hooks/receipts/<channel config id>/<path token>`.

The path token (reminders.sending.links.receipt_path_token) stops strangers for providers that cannot
sign (Aliyun, Tencent); Twilio, WeChat, WeCom and our webhook channel are verified on top with
their own signatures. Receipts are idempotent by the ledger's forward-only state machine.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from dunlin.db import transaction
from reminders.models import ChannelConfig
from reminders.sending.links import receipt_path_token
from reminders.sending.receipts import Receipt, apply_receipts
from webhooks import receipt_parsers as parse
from webhooks.edge import dunlin_app, has_nul, json_body, refuse, secret_box
from webhooks.signatures import (
    open_sealed,
    same,
    unix_time,
    verify_timestamped_hmac,
    verify_twilio,
    verify_twilio_json,
    verify_wx,
    wx_aes_key,
)

bp = Blueprint("receipts", __name__, url_prefix="/hooks/receipts")
WX_PROVIDERS = ("wechat_template", "wecom_app")


def _config(channel_id: int, token: str) -> tuple[ChannelConfig, dict[str, Any]]:
    key = dunlin_app().settings.require_secret_key()
    if not same(receipt_path_token(key, channel_id), token):
        refuse(404, "unknown_receipt_url", "no such receipt URL / 回执地址无效")
    with dunlin_app().factory() as session:
        config = session.scalar(select(ChannelConfig).where(ChannelConfig.id == channel_id))
        if config is None:
            refuse(404, "unknown_receipt_url", "no such receipt URL / 回执地址无效")
        session.expunge(config)
    secrets = secret_box().decrypt(config.secrets) if config.secrets else {}
    return config, secrets


@bp.get("/<int:channel_id>/<token>")
def verify_url(channel_id: int, token: str) -> ResponseReturnValue:
    """WeChat and WeCom check a callback URL by asking us to echo (or decrypt) `echostr`."""
    config, secrets = _config(channel_id, token)
    if config.provider not in WX_PROVIDERS:
        refuse(405, "method_not_allowed", "receipts are POSTed / 回执须用 POST")
    echostr = request.args.get("echostr", "")
    signature = request.args.get("msg_signature") or request.args.get("signature", "")
    parts = [
        secrets.get("callback_token", ""),
        request.args.get("timestamp", ""),
        request.args.get("nonce", ""),
    ]
    if request.args.get("msg_signature"):
        parts.append(echostr)
    if not verify_wx(signature, *parts):
        refuse(401, "bad_signature", "the callback signature does not match / 签名不匹配")
    if request.args.get("msg_signature"):
        try:
            echostr = open_sealed(wx_aes_key(secrets["encoding_aes_key"]), echostr)[0].decode()
        except (ValueError, KeyError) as exc:  # KeyError: no EncodingAESKey configured
            refuse(422, "bad_payload", f"echostr does not decrypt: {exc} / echostr 无法解密")
    return Response(echostr, mimetype="text/plain")


@bp.post("/<int:channel_id>/<token>")
def receive(channel_id: int, token: str) -> ResponseReturnValue:
    config, secrets = _config(channel_id, token)
    provider = config.provider
    try:
        receipts, reply = _parse(provider, secrets)
    except parse.PayloadError as exc:
        refuse(422, "bad_payload", str(exc))
    with transaction(dunlin_app().factory) as session:
        apply_receipts(session, config.org_id, config.name, receipts)
    return reply


def _parse(provider: str, secrets: dict[str, Any]) -> tuple[list[Receipt], ResponseReturnValue]:
    if provider == "twilio":
        return _twilio(secrets), Response("", 204)
    if provider == "aliyun_sms":
        return parse.aliyun(json_body()), jsonify(code=0, msg="ok")
    if provider == "tencent_sms":
        return parse.tencent(json_body()), jsonify(result=0, errmsg="OK")
    if provider == "webhook":
        reason = verify_timestamped_hmac(
            request.headers.get("Dunlin-Signature", ""),
            request.get_data(),
            [secrets["signing_secret"]],
            now=time.time(),
        )
        if reason:
            refuse(401, "bad_signature", f"Dunlin-Signature: {reason}")
        return parse.generic(json_body()), jsonify(status="ok")
    if provider in WX_PROVIDERS:
        fields = _wx_fields(secrets)
        events = parse.wechat_event if provider == "wechat_template" else parse.wecom_event
        return events(fields), Response("success", mimetype="text/plain")
    refuse(404, "no_receipts", f"{provider} sends no receipts / 该渠道没有回执")


def _twilio(secrets: dict[str, Any]) -> list[Receipt]:
    """Form bodies are signed with their parameters; any other body only through the
    `bodySHA256` in the signed URL, so a body without it is refused rather than trusted."""
    url, signature = _public_url(), request.headers.get("X-Twilio-Signature", "")
    raw = request.get_data()
    if "bodySHA256" in request.args:
        reason = verify_twilio_json(signature, secrets["auth_token"], url, raw)
        if reason:
            refuse(401, "bad_signature", f"X-Twilio-Signature: {reason} / 签名不匹配")
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            raise parse.PayloadError("the body is not JSON / 请求体不是 JSON") from exc
        if has_nul(payload):
            raise parse.PayloadError("the body contains a NUL character / 含有 NUL 字符")
        return parse.twilio_json(payload)
    if raw and request.mimetype != "application/x-www-form-urlencoded":
        refuse(
            401,
            "unsigned_body",
            "a non-form body must be signed through bodySHA256 in the URL / 请求体未签名",
        )
    form = request.form.to_dict(flat=False)
    if not verify_twilio(signature, secrets["auth_token"], url, form):
        refuse(401, "bad_signature", "X-Twilio-Signature does not match / 签名不匹配")
    return parse.twilio(request.form.to_dict())


def _wx_fields(secrets: dict[str, Any]) -> dict[str, str]:
    """Plain mode: `signature` over token/timestamp/nonce. Safe mode: `msg_signature` over
    those and the Encrypt field, which is then opened with the EncodingAESKey."""
    fields = parse.xml_fields(request.get_data())
    token = secrets.get("callback_token", "")
    stamp, nonce = request.args.get("timestamp", ""), request.args.get("nonce", "")
    seconds = unix_time(stamp)
    if seconds is None or abs(time.time() - seconds) > 300:
        refuse(401, "stale", "the timestamp is too old / 时间戳过期")
    if "Encrypt" in fields:
        if not verify_wx(
            request.args.get("msg_signature", ""), token, stamp, nonce, fields["Encrypt"]
        ):
            refuse(401, "bad_signature", "msg_signature does not match / 签名不匹配")
        try:
            inner, _receiver = open_sealed(
                wx_aes_key(secrets["encoding_aes_key"]), fields["Encrypt"]
            )
        except (ValueError, KeyError) as exc:
            raise parse.PayloadError(f"cannot decrypt: {exc}") from exc
        return parse.xml_fields(inner)
    if not verify_wx(request.args.get("signature", ""), token, stamp, nonce):
        refuse(401, "bad_signature", "signature does not match / 签名不匹配")
    return fields


def _public_url() -> str:
    """The URL the provider called, as it saw it (DUNLIN_PUBLIC_URL wins behind a proxy)."""
    public = dunlin_app().settings.public_url
    if public:
        query = request.query_string.decode()
        return public.rstrip("/") + request.path + (f"?{query}" if query else "")
    return request.url
