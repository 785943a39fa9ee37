"""Inbound push signatures reproduce the reference vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webhooks.signatures import jiandaoyun_signature, verify_jiandaoyun

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
