"""Signatures of inbound pushes from source systems, checked before anything is stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import parse_qs, urlsplit, urlunsplit

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def same(expected: str, given: str) -> bool:
    """Constant-time equality of a computed signature and one a caller sent. Compares bytes:
    `hmac.compare_digest` raises TypeError on a str with non-ASCII characters, and headers,
    paths and query strings can carry any."""
    return hmac.compare_digest(expected.encode(), given.encode())


def unix_time(text: str) -> int | None:
    """A timestamp a caller sent (seconds, or milliseconds: at most 13 ASCII digits), or
    None. `str.isdigit` also accepts "²" and "٣", and a 400-digit number overflows the float
    it is compared with."""
    if not text or len(text) > 13 or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def same_hex(expected: str, given: str) -> bool:
    """Constant-time comparison of a hex digest with what a request sent, in any case. As
    bytes: `compare_digest` raises on a str that is not ASCII, and a header may be anything."""
    return hmac.compare_digest(expected.encode(), given.lower().encode("utf-8", "replace"))


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
    """Constant-time check, and a stale timestamp is refused. X-JDY-DeliverId is not signed:
    the receiver deduplicates on what is (nonce, timestamp, body)."""
    stamp = unix_time(timestamp)
    if stamp is None or abs(now - stamp) > tolerance_seconds:
        return False
    expected = jiandaoyun_signature(nonce, raw_body, secret, timestamp)
    return same_hex(expected, signature)


def xbongbong_push_signature(raw_body: bytes, webhook_token: str) -> str:
    """Xbongbong data-change push: `sign` header = SHA-256 hex of the body + the webhook token."""
    return hashlib.sha256(raw_body + webhook_token.encode("utf-8")).hexdigest()


def verify_xbongbong(signature: str, raw_body: bytes, webhook_token: str) -> bool:
    expected = xbongbong_push_signature(raw_body, webhook_token)
    return same(expected, signature.strip().lower())


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
    return same(wx_signature(*parts), signature.lower())


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
    return any(same(twilio_signature(auth_token, u, params), signature) for u in candidates)


def twilio_body_sha256(raw_body: bytes) -> str:
    """The `bodySHA256` Twilio puts in the URL of a JSON-body webhook: hex SHA-256 of the body."""
    return hashlib.sha256(raw_body).hexdigest()


def verify_twilio_json(signature: str, auth_token: str, url: str, raw_body: bytes) -> str | None:
    """A JSON-body webhook: the signature covers the URL alone (bodySHA256 included), so the
    body is bound only through that hash; both must hold. Returns the refusal reason or None."""
    given = parse_qs(urlsplit(url).query).get("bodySHA256")
    if not given:
        return "a JSON body must come with bodySHA256 in the URL"
    if not verify_twilio(signature, auth_token, url, {}):
        return "X-Twilio-Signature does not match the URL"
    if not same(twilio_body_sha256(raw_body), given[0].strip().lower()):
        return "the body does not match bodySHA256"
    return None


def _port(url: str) -> int | None:
    """The URL's explicit port; a malformed one (a forged Host header) counts as none."""
    try:
        return urlsplit(url).port
    except ValueError:
        return None


def _without_default_port(url: str) -> str:
    parts = urlsplit(url)
    port = _port(url)
    if port is None or port != {"https": 443, "http": 80}.get(parts.scheme):
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]))


def _with_default_port(url: str) -> str:
    parts = urlsplit(url)
    if _port(url) is not None:
        return url
    port = 443 if parts.scheme == "https" else 80
    return urlunsplit(parts._replace(netloc=f"{parts.netloc}:{port}"))


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
    seconds = unix_time(stamp)
    if seconds is None or not fields.get("v1"):
        return "the signature header is not t=<unix seconds>,v1=<hex>"
    if abs(now - seconds) > tolerance_seconds:
        return f"the timestamp is more than {tolerance_seconds} s away from our clock"
    signed = stamp.encode() + b"." + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if any(same(expected, given.lower()) for given in fields["v1"]):
            return None
    return "the signature does not match the body"


# A delivery id the generic payment hook accepts: no `.`, so "<t>.<id>.<body>" splits one way.
DELIVERY_ID = re.compile(r"[A-Za-z0-9_:\-]{1,200}")


def delivery_signature(secret: str, stamp: str, delivery_id: str, body: bytes) -> str:
    """Dunlin-Signature v2: hex HMAC-SHA256 of "<t>.<delivery id>.<body>". Unlike Stripe's v1
    ("<t>." + body) it covers the delivery's name, so a captured notice cannot be sent again
    under a new id inside the timestamp window."""
    signed = f"{stamp}.{delivery_id}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_signed_delivery(
    header: str,
    delivery_id: str,
    body: bytes,
    secrets: list[str],
    *,
    now: float,
    tolerance_seconds: int = 300,
) -> str | None:
    """Check `t=<unix>,v2=<hex>` (several v2 values and secrets allowed, for rotation) for
    this delivery id and body. Returns the reason for a refusal, or None when it is good. A
    header with only v1 is refused: v1 does not cover the delivery id."""
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        fields.setdefault(key, []).append(value)
    stamp = (fields.get("t") or [""])[0]
    if unix_time(stamp) is None or not (fields.get("v2") or fields.get("v1")):
        return "the signature header is not t=<unix seconds>,v2=<hex>"
    if not fields.get("v2"):
        return 'v1 does not cover the event id: sign "<t>.<Dunlin-Event-Id>.<body>" as v2'
    if not DELIVERY_ID.fullmatch(delivery_id):
        return "Dunlin-Event-Id must be 1-200 of A-Z a-z 0-9 _ : -"
    if abs(now - int(stamp)) > tolerance_seconds:
        return f"the timestamp is more than {tolerance_seconds} s away from our clock"
    for secret in secrets:
        expected = delivery_signature(secret, stamp, delivery_id, body)
        if any(same_hex(expected, given) for given in fields["v2"]):
            return None
    return "the signature does not match the event id and body"
