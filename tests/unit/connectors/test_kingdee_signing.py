"""K3Cloud signatures reproduce the vectors computed with Kingdee's own Python SDK."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.kingdee.signing import (
    gateway_secret,
    login_sign,
    signature_headers,
    signed_path,
)

# Our copy of the vectors (docs/reference/kingdee.md §3): the tests never read outside the repo.
VECTORS = Path(__file__).resolve().parents[2] / "fixtures" / "vectors" / "kingdee.json"


def _vectors():
    return json.loads(VECTORS.read_text())["vectors"]


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: v["id"])
def test_headers_match_the_sdk_vector(vector):
    given, expected = vector["inputs"], vector["expected"]
    url = given["server_url"] + given["service"] + ".common.kdsvc"
    assert url == expected["request_url"]
    assert signed_path(url) == expected["path_encoded"]
    assert gateway_secret(given["app_id"]) == expected["gateway_secret"]
    headers = signature_headers(
        url,
        app_id=given["app_id"],
        app_secret=given["app_secret"],
        acct_id=given["acct_id"],
        username=given["username"],
        lcid=given["lcid"],
        org_num=given["org_num"],
        timestamp=given["timestamp"],
    )
    assert headers == expected["headers"]


def test_malformed_app_id_is_refused():
    with pytest.raises(ValueError, match="32"):
        gateway_secret("200001_short")


def test_login_sign_sorts_the_five_strings():
    assert login_sign("b", "a", "c", "e", "d") == login_sign("e", "d", "c", "b", "a")
    assert len(login_sign("1", "2", "3", "4", "5")) == 64
