"""Vendor request-signing schemes as small pure functions: inputs in, signature or headers out.

The generic REST connector calls these by the mapping's `auth.type`; each reproduces the
reference (docs/reference/rest-vendors.md) and its vectors where one exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote


def _b64_hex_hmac(key: str, message: str) -> str:
    digest = hmac.new(key.encode(), message.encode("utf-8"), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode("ascii")).decode("ascii")


# ---- 用友 YonSuite / YonBIP ------------------------------------------------------------------


def yonsuite_token_signature(params: Mapping[str, str], secret: str) -> str:
    """The open platform's token signature: base64 HMAC-SHA256 (key: the app's or suite's
    secret) over every query parameter but `signature`, sorted by name, as name+value."""
    message = "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(secret.encode(), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def yonsuite_token_query(app_key: str, app_secret: str, timestamp_ms: str) -> dict[str, str]:
    """Query of the self-built-app token request: HMAC-SHA256 (key appSecret) over the sorted
    name+value pairs, base64; the HTTP client URL-encodes it exactly once."""
    params = {"appKey": app_key, "timestamp": timestamp_ms}
    return {**params, "signature": yonsuite_token_signature(params, app_secret)}


@dataclass(frozen=True)
class YonSuiteSelfAppSigner:
    """A self-built app (自建应用): one tenant's own app key and secret."""

    app_key: str
    app_secret: str

    def token_query(self, timestamp_ms: str) -> dict[str, str]:
        return yonsuite_token_query(self.app_key, self.app_secret, timestamp_ms)


@dataclass(frozen=True)
class YonSuiteSuiteSigner:
    """An ISV suite app (生态应用): one suite key and secret serve every tenant that bought the
    app, so the token request names the tenant and is signed over suiteKey, tenantId and the
    timestamp (ms) with the suite secret; GET .../open-auth/suiteApp/getAccessToken."""

    suite_key: str
    suite_secret: str
    tenant_id: str

    def token_query(self, timestamp_ms: str) -> dict[str, str]:
        params = {"suiteKey": self.suite_key, "tenantId": self.tenant_id, "timestamp": timestamp_ms}
        return {**params, "signature": yonsuite_token_signature(params, self.suite_secret)}


# ---- 销帮帮 Xbongbong ---------------------------------------------------------------------------


def xbongbong_sign(body: bytes, token: str) -> str:
    """`sign` header: lowercase hex SHA-256 of the exact body bytes followed by the token."""
    return hashlib.sha256(body + token.encode("utf-8")).hexdigest()


# ---- 纷享销客 Fxiaoke -----------------------------------------------------------------------------


def fxiaoke_body(
    body: Mapping[str, Any], corp_access_token: str, corp_id: str, open_user_id: str
) -> dict[str, Any]:
    """Legacy auth: the token, corpId and the acting user travel at the top of every body."""
    return {
        "corpAccessToken": corp_access_token,
        "corpId": corp_id,
        "currentOpenUserId": open_user_id,
        **body,
    }


# ---- 金蝶云星辰 Kingdee JDY ----------------------------------------------------------------------


def _encode(text: str) -> str:
    """Percent-encoding with uppercase hex, only RFC 3986 unreserved characters left as-is."""
    return quote(text, safe="-_.~")


def jdy_canonical_query(query: Mapping[str, Any]) -> str:
    """Keys sorted; each key and value percent-encoded twice; pairs joined with `&`."""
    pairs = sorted((str(k), "" if v is None else str(v)) for k, v in query.items())
    return "&".join(f"{_encode(_encode(k))}={_encode(_encode(v))}" for k, v in pairs)


def jdy_string_to_sign(
    method: str, path: str, query: Mapping[str, Any], nonce: str, ts: str
) -> str:
    return (
        f"{method.upper()}\n{_encode(path)}\n{jdy_canonical_query(query)}\n"
        f"x-api-nonce:{nonce}\nx-api-timestamp:{ts}\n"
    )


def jdy_gateway_headers(
    method: str,
    path: str,
    query: Mapping[str, Any],
    *,
    client_id: str,
    client_secret: str,
    nonce: str,
    timestamp_ms: str,
) -> dict[str, str]:
    """Headers of every api.kingdee.com call (the token calls included); the body is unsigned."""
    signature = _b64_hex_hmac(
        client_secret, jdy_string_to_sign(method, path, query, nonce, timestamp_ms)
    )
    return {
        "X-Api-ClientID": client_id,
        "X-Api-Auth-Version": "2.0",
        "X-Api-TimeStamp": timestamp_ms,
        "X-Api-Nonce": nonce,
        "X-Api-SignHeaders": "X-Api-TimeStamp,X-Api-Nonce",
        "X-Api-Signature": signature,
    }


def jdy_app_signature(app_key: str, app_secret: str) -> str:
    """`app_signature` of the app-token request: Base64 of the hex HMAC-SHA256 of appKey."""
    return _b64_hex_hmac(app_secret, app_key)
