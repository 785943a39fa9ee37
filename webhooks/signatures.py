"""Signatures of inbound pushes from source systems, checked before anything is stored."""

from __future__ import annotations

import hashlib
import hmac


def jiandaoyun_signature(nonce: str, raw_body: bytes, secret: str, timestamp: str) -> str:
    """X-JDY-Signature: hex SHA-1 of "nonce:raw_body:secret:timestamp" (the exact body bytes;
    nonce and timestamp from the query string)."""
    message = b":".join([nonce.encode(), raw_body, secret.encode(), timestamp.encode()])
    return hashlib.sha1(message).hexdigest()  # noqa: S324 - the vendor's scheme, not our choice


def verify_jiandaoyun(
    signature: str,
    nonce: str,
    raw_body: bytes,
    secret: str,
    timestamp: str,
    *,
    now: float,
    tolerance_seconds: int = 300,
) -> bool:
    """Constant-time check, and a stale timestamp is refused (replays are deduplicated on
    X-JDY-DeliverId by the receiver)."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance_seconds:
        return False
    expected = jiandaoyun_signature(nonce, raw_body, secret, timestamp)
    return hmac.compare_digest(expected, signature.lower())
