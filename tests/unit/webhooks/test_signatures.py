"""Inbound push signatures reproduce the reference vectors."""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhooks.signatures import (
    delivery_signature,
    jiandaoyun_signature,
    open_sealed,
    same,
    unix_time,
    verify_jiandaoyun,
    verify_signed_delivery,
    verify_timestamped_hmac,
    verify_wx,
    wx_aes_key,
    wx_signature,
)

VECTORS = Path(__file__).resolve().parents[2] / "fixtures" / "vectors" / "jiandaoyun.json"


@pytest.mark.parametrize(
    "vector", json.loads(VECTORS.read_text())["vectors"], ids=lambda v: v["id"]
)
def test_jiandaoyun_vector(vector):
    given, expected = vector["inputs"], vector["expected"]
    body = given["raw_body"].encode()
    signature = jiandaoyun_signature(given["nonce"], body, given["secret"], given["timestamp"])
    assert signature == expected["x_jdy_signature"]
    now = int(given["timestamp"]) + 10
    assert verify_jiandaoyun(
        signature, given["nonce"], body, given["secret"], given["timestamp"], now=now
    )
    assert not verify_jiandaoyun(
        signature, given["nonce"], body + b" ", given["secret"], given["timestamp"], now=now
    )
    assert not verify_jiandaoyun(
        signature, given["nonce"], body, given["secret"], given["timestamp"], now=now + 3600
    )


def test_xbongbong_push_signature_covers_body_and_webhook_token():
    import hashlib

    from webhooks.signatures import verify_xbongbong, xbongbong_push_signature

    body = (
        b'{"formId":1,"operate":"edit","corpid":"ding1","dataId":9,"type":"payment","saasMark":1}'
    )
    signature = hashlib.sha256(body + b"wh-token").hexdigest()
    assert xbongbong_push_signature(body, "wh-token") == signature
    assert verify_xbongbong(signature.upper(), body, "wh-token")
    assert not verify_xbongbong(signature, body.replace(b"edit", b"new "), "wh-token")


def test_yonsuite_event_signature_and_decryption_worked_example():
    import base64
    import hashlib
    import hmac as hmac_module
    import os

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from webhooks.signatures import (
        yonsuite_aes_key,
        yonsuite_decrypt,
        yonsuite_event_signature,
    )

    secret = "5f3c2a1b-9e8d-7c6b-5a4f-3e2d1c0b9a8f"
    key = yonsuite_aes_key(secret)
    assert len(key) == 32  # 32 hex chars padded with "0" to 43, + "=", base64-decoded
    assert key == base64.b64decode("5f3c2a1b9e8d7c6b5a4f3e2d1c0b9a8f" + "0" * 11 + "=")
    event = b'{"type":"RECEIPT_AUDIT","eventId":"e-1"}'
    plain = os.urandom(16) + len(event).to_bytes(4, "big") + event + b"dunlintestappkey0001"
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    encrypt = base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()
    message, app_key = yonsuite_decrypt(secret, encrypt)
    assert (message, app_key) == (event, "dunlintestappkey0001")
    expected = base64.b64encode(
        hmac_module.new(
            secret.encode(),
            "".join(sorted(["n1", encrypt, "1714550400000"])).encode(),
            hashlib.sha256,
        ).digest()
    ).decode()
    assert yonsuite_event_signature(secret, "n1", encrypt, "1714550400000") == expected


@given(st.text(max_size=500))
def test_verifiers_take_any_text_a_caller_sends(text):
    """No header, query value or path segment makes a verifier raise: a stranger's input
    must end in a refusal (401/404), never in a TypeError or OverflowError (a 500)."""
    assert unix_time(text) is None or 0 <= unix_time(text) < 10**13
    assert not same("0" * 40, text) or text == "0" * 40
    assert verify_jiandaoyun(text, text, b"{}", "s", text, now=time.time()) is False
    assert verify_timestamped_hmac(text, b"{}", ["s"], now=time.time()) is not None
    assert verify_timestamped_hmac(f"t={text},v1={text}", b"{}", ["s"], now=1.0) is not None
    assert verify_wx(text, "token", text, text) is False


# -- Dunlin-Signature v2: the delivery id is signed -----------------------------------------

ids = st.from_regex(r"[A-Za-z0-9_:\-]{1,40}", fullmatch=True)
NOW = 1_800_000_000


def v2_header(secret: str, stamp: int, delivery_id: str, body: bytes) -> str:
    return f"t={stamp},v2={delivery_signature(secret, str(stamp), delivery_id, body)}"


@settings(max_examples=200)
@given(delivery_id=ids, other=ids, body=st.binary(max_size=200), extra=st.binary(max_size=20))
def test_a_v2_signature_holds_only_for_its_own_id_and_body(delivery_id, other, body, extra):
    header = v2_header("s3cret", NOW, delivery_id, body)
    check = partial(verify_signed_delivery, secrets=["old", "s3cret"], now=NOW + 60)
    assert check(header, delivery_id, body) is None
    if other != delivery_id:
        assert check(header, other, body) is not None  # a replay under a new id
    # bytes moved between the id and the body do not keep the signature either
    if extra and (shifted := body + extra) != body:
        assert check(header, delivery_id, shifted) is not None


def test_v2_refusals_say_why():
    body = b'{"record": {}}'
    good = v2_header("k", NOW, "evt-1", body)
    assert "v2" in (verify_signed_delivery("t=1,v1=ab", "evt-1", body, ["k"], now=NOW) or "")
    assert "timestamp" in (verify_signed_delivery(good, "evt-1", body, ["k"], now=NOW + 301) or "")
    assert "event id" in (verify_signed_delivery(good, "evt-1", body, ["x"], now=NOW) or "")
    assert verify_signed_delivery(good, "evt.1", body, ["k"], now=NOW) is not None
    # a header that is not ASCII is a refusal, not an exception
    assert verify_signed_delivery(good + "é", "evt-1", body, ["k"], now=NOW) is not None
    assert not verify_jiandaoyun("é" * 40, "n", body, "k", str(NOW), now=NOW)


TWILIO_VECTORS = json.loads((VECTORS.parent / "twilio.json").read_text())["vectors"]


@pytest.mark.parametrize(
    "vector", [v for v in TWILIO_VECTORS if "body" in v["inputs"]], ids=lambda v: v["id"]
)
def test_twilio_json_body_vector(vector):
    from webhooks.signatures import twilio_body_sha256, verify_twilio_json

    given, expected = vector["inputs"], vector["expected"]
    body = given["body"].encode()
    assert twilio_body_sha256(body) == expected["body_sha256"]
    assert (
        verify_twilio_json(expected["signature"], given["auth_token"], given["url"], body) is None
    )
    tampered = body.replace(b"delivered", b"failed")
    reason = verify_twilio_json(expected["signature"], given["auth_token"], given["url"], tampered)
    assert reason == "the body does not match bodySHA256"


@settings(max_examples=200, deadline=None)
@given(
    body=st.text(max_size=200),
    other=st.text(max_size=200),
    port=st.sampled_from(["", ":443"]),
    signed_port=st.sampled_from(["", ":443"]),
    query=st.sampled_from(["", "a=1&"]),
)
def test_twilio_json_verdict_agrees_with_twilios_validator(body, other, port, signed_port, query):
    """Whatever the body and whether the default port is written, we accept exactly what
    Twilio's RequestValidator accepts."""
    from twilio.request_validator import RequestValidator

    from webhooks.signatures import verify_twilio_json

    validator = RequestValidator("tok-123")
    path = f"/hooks/receipts/1/x?{query}bodySHA256={validator.compute_hash(body)}"
    signature = validator.compute_signature(f"https://pay.example.com{signed_port}{path}", {})
    received = f"https://pay.example.com{port}{path}"
    for sent in (body, other):
        theirs = validator.validate(received, sent, signature)
        ours = verify_twilio_json(signature, "tok-123", received, sent.encode()) is None
        assert ours == theirs


WECOM = json.loads((VECTORS.parent / "wecom.json").read_text())["vectors"]
WECHAT = json.loads((VECTORS.parent / "wechat.json").read_text())["vectors"]


@pytest.mark.parametrize("vector", WECOM, ids=lambda v: v["id"])
def test_wecom_callback_reproduces_the_sdk_vector(vector):
    """msg_signature over the sorted token, timestamp, nonce and echostr, and the AES envelope
    opened to the plaintext and the corp id it was sealed for (docs/reference/channels.md §4.5)."""
    given, expected = vector["inputs"], vector["expected"]
    parts = (given["token"], given["timestamp"], given["nonce"], given["echostr"])
    assert wx_signature(*parts) == expected["msg_signature"]
    assert verify_wx(expected["msg_signature"].upper(), *parts)
    message, receiver = open_sealed(wx_aes_key(given["encoding_aes_key"]), given["echostr"])
    assert message.decode() == expected["decrypted_echostr"]
    assert receiver == given["receive_id"]


@pytest.mark.parametrize("vector", WECHAT, ids=lambda v: v["id"])
def test_wechat_plain_signature_reproduces_the_sdk_vector(vector):
    given = vector["inputs"]
    parts = (given["token"], given["timestamp"], given["nonce"])
    assert "".join(sorted(parts)) == vector["expected"]["sorted_concat"]
    assert wx_signature(*parts) == vector["expected"]["signature"]
