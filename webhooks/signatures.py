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
    """(event JSON bytes, the app or suite key it was sealed for)."""
    return open_sealed(yonsuite_aes_key(app_secret), encrypt)


def open_sealed(key: bytes, encrypt: str) -> tuple[bytes, str]:
    """The WeChat-family envelope (WeCom, WeChat safe mode, YonSuite): AES-256-CBC, IV = key[:16];
    plaintext = 16 random bytes || uint32 length || message || receive id; padding of 1–32 bytes
    (PKCS#7 with block 32; the YonSuite SDK strips nothing when the last byte is out of range)."""
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(encrypt)) + decryptor.finalize()
    if len(plain) < 20:  # empty ("====") or shorter than random bytes + length prefix
        raise ValueError("the envelope is too short")
    pad = plain[-1]
    if 1 <= pad <= 32:
        plain = plain[:-pad]
    length = int.from_bytes(plain[16:20], "big")
    message = plain[20 : 20 + length]
    if len(message) != length:
        raise ValueError("the event's length prefix does not match its content")
    return message, plain[20 + length :].decode("utf-8")


def wx_aes_key(encoding_aes_key: str) -> bytes:
    return base64.b64decode(encoding_aes_key + "=")


def wx_signature(*parts: str) -> str:
    """WeCom msg_signature / WeChat signature: SHA-1 hex of the sorted, concatenated parts
    (token, timestamp, nonce, and the Encrypt field in safe mode)."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - vendor's


def verify_wx(signature: str, *parts: str) -> bool:
    return hmac.compare_digest(wx_signature(*parts), signature.lower())


def twilio_signature(auth_token: str, url: str, params: dict[str, list[str]]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the full URL followed by each POST parameter
    name and its (sorted, de-duplicated) values, names sorted."""
    message = url + "".join(
        name + value for name in sorted(params) for value in sorted(set(params[name]))
    )
    digest = hmac.new(auth_token.encode(), message.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_twilio(signature: str, auth_token: str, url: str, params: dict[str, list[str]]) -> bool:
    """Accept the URL with and without the scheme's default port, as Twilio's validator does."""
    candidates = {url, _without_default_port(url), _with_default_port(url)}
    return any(
        hmac.compare_digest(twilio_signature(auth_token, u, params), signature) for u in candidates
    )


def _without_default_port(url: str) -> str:
    return url.replace(":443/", "/", 1).replace(":80/", "/", 1)


def _with_default_port(url: str) -> str:
    scheme, _, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    if ":" in host:
        return url
    port = "443" if scheme == "https" else "80"
    return f"{scheme}://{host}:{port}{slash}{path}"


def verify_timestamped_hmac(
    header: str, body: bytes, secrets: list[str], *, now: float, tolerance_seconds: int = 300
) -> str | None:
    """Check a `t=<unix>,v1=<hex>` header (Stripe's scheme: HMAC-SHA256 of "<t>." + body).
    Several v1 values and several secrets are allowed, for rotation. Returns the reason for a
    refusal, or None when the signature is good."""
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        fields.setdefault(key, []).append(value)
    stamp = (fields.get("t") or [""])[0]
    if not stamp.isdigit() or not fields.get("v1"):
        return "the signature header is not t=<unix seconds>,v1=<hex>"
    if abs(now - int(stamp)) > tolerance_seconds:
        return f"the timestamp is more than {tolerance_seconds} s away from our clock"
    signed = stamp.encode() + b"." + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, given.lower()) for given in fields["v1"]):
            return None
    return "the signature does not match the body"
