"""Provider signatures reproduce the vectors computed with the vendors' own SDKs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reminders.sending.channels.signing import (
    acs3_authorization,
    acs3_canonical_request,
    dingtalk_sign,
    tc3_authorization,
    twilio_signature,
)

VECTORS = Path(__file__).resolve().parents[4] / "fixtures" / "vectors"


def vectors(name: str) -> list[dict]:
    return json.loads((VECTORS / f"{name}.json").read_text())["vectors"]


@pytest.mark.parametrize("vector", vectors("aliyun_acs3"), ids=lambda v: v["id"])
def test_aliyun_acs3(vector):
    given, expected = vector["inputs"], vector["expected"]
    body = given.get("body", "").encode()
    canonical, _ = acs3_canonical_request(
        given["method"], given["pathname"], given["query"], given["headers_to_sign"], body
    )
    assert canonical == expected["canonical_request"]
    assert (
        acs3_authorization(
            given["access_key_id"],
            given["access_key_secret"],
            given["method"],
            given["pathname"],
            given["query"],
            given["headers_to_sign"],
            body,
        )
        == expected["authorization"]
    )


@pytest.mark.parametrize("vector", vectors("tencent"), ids=lambda v: v["id"])
def test_tencent_tc3(vector):
    given, expected = vector["inputs"], vector["expected"]
    assert (
        tc3_authorization(
            given["secret_id"],
            given["secret_key"],
            given["service"],
            given["host"],
            given["content_type"],
            given["timestamp"],
            given["payload"].encode(),
        )
        == expected["authorization"]
    )


@pytest.mark.parametrize("vector", vectors("twilio"), ids=lambda v: v["id"])
def test_twilio_webhook_signature(vector):
    given = vector["inputs"]
    signature = twilio_signature(given["auth_token"], given["url"], given["params"])
    assert signature == vector["expected"]["signature"]


@pytest.mark.parametrize("vector", vectors("dingtalk"), ids=lambda v: v["id"])
def test_dingtalk_robot_sign(vector):
    given = vector["inputs"]
    sign = dingtalk_sign(given["secret"], given["timestamp_ms"])
    assert sign == vector["expected"]["sign_urlencoded"]


def test_a_changed_input_changes_every_signature():
    assert twilio_signature("12345", "https://a/", {"A": "1"}) != twilio_signature(
        "12345", "https://a/", {"A": "2"}
    )
    assert dingtalk_sign("SEC1", "1") != dingtalk_sign("SEC1", "2")
