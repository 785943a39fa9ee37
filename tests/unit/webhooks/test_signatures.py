"""Inbound push signatures reproduce the reference vectors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhooks.signatures import (
    jiandaoyun_signature,
    same,
    unix_time,
    verify_jiandaoyun,
    verify_timestamped_hmac,
    verify_wx,
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
