"""Request signatures of the message providers, as pure functions of their inputs.

Each one reproduces the vectors in tests/fixtures/vectors (computed with the vendors' own SDKs;
docs/reference/channels.md §0.4); tests/unit/reminders/sending/channels/test_signing.py holds
them to it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote, quote_plus


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac256(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


# --- Alibaba Cloud ACS3-HMAC-SHA256 --------------------------------------------------------


def acs3_canonical_request(
    method: str, pathname: str, query: dict[str, str], headers: dict[str, str], body: bytes
) -> tuple[str, str]:
    """(canonical request, signed header list). Query values are encoded, keys are not (as the
    SDK does); headers are lower-cased, trimmed and sorted."""
    canonical_query = "&".join(f"{k}={quote(str(query[k]), safe='~')}" for k in sorted(query))
    lowered = {k.lower().strip(): str(v).strip() for k, v in headers.items()}
    names = sorted(lowered)
    canonical_headers = "".join(f"{n}:{lowered[n]}\n" for n in names)
    signed = ";".join(names)
    request = "\n".join(
        [method, pathname, canonical_query, canonical_headers, signed, _sha256_hex(body)]
    )
    return request, signed


def acs3_authorization(
    access_key_id: str,
    secret: str,
    method: str,
    pathname: str,
    query: dict[str, str],
    headers: dict[str, str],
    body: bytes = b"",
) -> str:
    request, signed = acs3_canonical_request(method, pathname, query, headers, body)
    string_to_sign = "ACS3-HMAC-SHA256\n" + _sha256_hex(request.encode())
    signature = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"ACS3-HMAC-SHA256 Credential={access_key_id},SignedHeaders={signed},Signature={signature}"
    )


# --- Tencent Cloud TC3-HMAC-SHA256 ---------------------------------------------------------


def tc3_authorization(
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    content_type: str,
    timestamp: int,
    payload: bytes,
) -> str:
    """POST with content-type and host signed (what the SDK sends for JSON calls)."""
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{content_type}\nhost:{host}\n",
            "content-type;host",
            _sha256_hex(payload),
        ]
    )
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{day}/{service}/tc3_request"
    string_to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{_sha256_hex(canonical.encode())}"
    k_date = _hmac256(("TC3" + secret_key).encode(), day)
    k_service = _hmac256(k_date, service)
    k_signing = _hmac256(k_service, "tc3_request")
    signature = hmac.new(k_signing, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )


# --- Twilio webhook signature (X-Twilio-Signature) -----------------------------------------


def twilio_signature(auth_token: str, url: str, params: dict[str, str | list[str]]) -> str:
    """HMAC-SHA1 over the URL plus every name+value, names sorted, each name's values sorted."""
    data = url
    for name in sorted(params):
        values = params[name]
        for value in sorted(set(values if isinstance(values, list) else [values])):
            data += name + value
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


# --- DingTalk custom robot ------------------------------------------------------------------


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """URL-encoded base64(HMAC-SHA256(secret, "<timestamp_ms>\\n<secret>"))."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return quote_plus(base64.b64encode(digest).decode())


# --- Dunlin's own outbound webhooks (Stripe-style) ------------------------------------------


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"
