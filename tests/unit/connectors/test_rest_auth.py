"""Vendor signing schemes: the YonSuite vector, and worked examples for the others."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.rest_auth import (
    YonSuiteSelfAppSigner,
    YonSuiteSuiteSigner,
    fxiaoke_body,
    jdy_app_signature,
    jdy_canonical_query,
    jdy_gateway_headers,
    jdy_string_to_sign,
    xbongbong_sign,
    yonsuite_token_query,
)

VECTORS = Path(__file__).resolve().parents[2] / "fixtures" / "vectors"


YONYOU = json.loads((VECTORS / "yonyou.json").read_text())["vectors"]


@pytest.mark.parametrize(
    "vector", [v for v in YONYOU if v["id"].startswith("yonyou_selfapp")], ids=lambda v: v["id"]
)
def test_yonsuite_token_signature_vector(vector):
    given, expected = vector["inputs"], vector["expected"]
    query = yonsuite_token_query(given["app_key"], given["app_secret"], given["timestamp_ms"])
    assert query["signature"] == expected["signature"]
    assert urlencode(query) == expected["query_string"]  # encoded once, as requests does


@pytest.mark.parametrize(
    "vector", [v for v in YONYOU if v["id"].startswith("yonyou_suite")], ids=lambda v: v["id"]
)
def test_yonsuite_suite_token_signature_vector(vector):
    """The vector is what the vendor's SDK (opt_suit_token) sent; see its computed_by."""
    given, expected = vector["inputs"], vector["expected"]
    signer = YonSuiteSuiteSigner(given["suite_key"], given["suite_secret"], given["tenant_id"])
    query = signer.token_query(given["timestamp_ms"])
    assert query["signature"] == expected["signature"]
    assert urlencode(query) == expected["query_string"]  # encoded once, as requests does


@settings(max_examples=100, deadline=None)
@given(
    key=st.text(min_size=1, max_size=40),
    secret=st.text(min_size=1, max_size=40),
    tenant=st.text(min_size=1, max_size=40),
    stamp=st.integers(min_value=0, max_value=10**13).map(str),
)
def test_suite_signature_is_the_sorted_concatenation_under_the_suite_secret(
    key, secret, tenant, stamp
):
    query = YonSuiteSuiteSigner(key, secret, tenant).token_query(stamp)
    message = f"suiteKey{key}tenantId{tenant}timestamp{stamp}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    assert base64.b64decode(query["signature"]) == digest
    assert {k: v for k, v in query.items() if k != "signature"} == {
        "suiteKey": key,
        "tenantId": tenant,
        "timestamp": stamp,
    }
    # The self-built signer is the same scheme over its own two parameters.
    own = YonSuiteSelfAppSigner(key, secret).token_query(stamp)
    assert own == yonsuite_token_query(key, secret, stamp)


def test_xbongbong_sign_covers_the_exact_body_bytes():
    body = b'{"corpid":"ding123","formId":1,"page":1,"pageSize":100}'
    expected = hashlib.sha256(body + b"tok-abc").hexdigest()
    assert xbongbong_sign(body, "tok-abc") == expected
    assert xbongbong_sign(body.replace(b":1,", b": 1,"), "tok-abc") != expected  # re-serialised


def test_fxiaoke_auth_travels_in_the_body():
    body = fxiaoke_body({"data": {"dataObjectApiName": "AccountObj"}}, "T", "C", "FSUID_1")
    assert body == {
        "corpAccessToken": "T",
        "corpId": "C",
        "currentOpenUserId": "FSUID_1",
        "data": {"dataObjectApiName": "AccountObj"},
    }


def test_jdy_canonical_string_worked_example():
    # Worked by hand from docs/reference/rest-vendors.md §5.2: sorted keys, each key and value
    # percent-encoded twice ("=" → %3D → %253D), the path once with "/" → %2F.
    query = {"app_signature": "ab+c=", "app_key": "bVZgAZOv1"}
    assert jdy_canonical_query(query) == "app_key=bVZgAZOv1&app_signature=ab%252Bc%253D"
    text = jdy_string_to_sign(
        "GET",
        "/jdyconnector/app_management/kingdee_auth_token",
        query,
        "4427456950",
        "1670305063559",
    )
    assert text == (
        "GET\n%2Fjdyconnector%2Fapp_management%2Fkingdee_auth_token\n"
        "app_key=bVZgAZOv1&app_signature=ab%252Bc%253D\n"
        "x-api-nonce:4427456950\nx-api-timestamp:1670305063559\n"
    )
    headers = jdy_gateway_headers(
        "GET",
        "/jdyconnector/app_management/kingdee_auth_token",
        query,
        client_id="cid",
        client_secret="f2adcfef73369bfc4e1384677d38a0ff",
        nonce="4427456950",
        timestamp_ms="1670305063559",
    )
    hexdigest = hmac.new(
        b"f2adcfef73369bfc4e1384677d38a0ff", text.encode(), hashlib.sha256
    ).hexdigest()
    assert headers["X-Api-Signature"] == base64.b64encode(hexdigest.encode()).decode()
    assert headers["X-Api-SignHeaders"] == "X-Api-TimeStamp,X-Api-Nonce"
    assert jdy_string_to_sign("POST", "/jdy/v2/bd/customer", {}, "1", "2").split("\n")[2] == ""


def test_jdy_app_signature_is_base64_of_hex():
    hexdigest = hmac.new(b"secret", b"key1", hashlib.sha256).hexdigest()
    assert jdy_app_signature("key1", "secret") == base64.b64encode(hexdigest.encode()).decode()
