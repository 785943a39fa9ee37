"""Signatures of inbound pushes from source systems, checked before anything is stored."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


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


def xbongbong_push_signature(raw_body: bytes, webhook_token: str) -> str:
    """Xbongbong data-change push: `sign` header = SHA-256 hex of the body + the webhook token."""
    return hashlib.sha256(raw_body + webhook_token.encode("utf-8")).hexdigest()


def verify_xbongbong(signature: str, raw_body: bytes, webhook_token: str) -> bool:
    expected = xbongbong_push_signature(raw_body, webhook_token)
    return hmac.compare_digest(expected, signature.strip().lower())


def yonsuite_event_signature(app_secret: str, nonce: str, encrypt: str, timestamp: str) -> str:
    """YonSuite event push: base64 HMAC-SHA256 (key appSecret) of the sorted, concatenated
    nonce, encrypt and timestamp strings."""
    message = "".join(sorted([nonce, encrypt, str(timestamp)]))
    digest = hmac.new(app_secret.encode(), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def yonsuite_aes_key(app_secret: str) -> bytes:
    """appSecret without `-`, cut or right-padded with `0` to 43 characters, + `=`, base64."""
    text = app_secret.replace("-", "")[:43].ljust(43, "0")
    return base64.b64decode(text + "=")


def yonsuite_decrypt(app_secret: str, encrypt: str) -> tuple[bytes, str]:
    """(event JSON bytes, the app or suite key it was sealed for). AES-256-CBC, IV = key[:16];
    plaintext = 16 random bytes || uint32 length || message || appKey."""
    key = yonsuite_aes_key(app_secret)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(encrypt)) + decryptor.finalize()
    pad = plain[-1]
    if 1 <= pad <= 32:  # the SDK strips 1–32 bytes of padding and nothing otherwise
        plain = plain[:-pad]
    length = int.from_bytes(plain[16:20], "big")
    message = plain[20 : 20 + length]
    if len(message) != length:
        raise ValueError("the event's length prefix does not match its content")
    return message, plain[20 + length :].decode("utf-8")
