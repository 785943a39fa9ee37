"""Signed, expiring tokens for the links in a reminder (click tracker, self-service page,
unsubscribe). itsdangerous (Flask's own signer) does the HMAC and the expiry; the payload is
just numbers, so a token names nothing a stranger could read or change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from dunlin.settings import Settings

MAX_AGE_DAYS = 90


@dataclass(frozen=True)
class LinkTarget:
    org_id: int
    customer_id: int
    reminder_id: int  # 0 when the link is not tied to one message


class LinkError(ValueError):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def _derive(key_material: str, purpose: str) -> bytes:
    """A key for one purpose, so a link token can never pass as a session cookie or the
    reverse (the stored-secrets Fernet key is the root)."""
    newest = key_material.split(",")[0].strip()
    return hashlib.sha256(f"dunlin:{purpose}:{newest}".encode()).digest()


def flask_secret(key_material: str) -> bytes:
    return _derive(key_material, "flask-session")


class LinkSigner:
    def __init__(self, key_material: str, max_age_days: int = MAX_AGE_DAYS) -> None:
        self._serializer = URLSafeTimedSerializer(_derive(key_material, "links"), salt="link")
        self.max_age_seconds = max_age_days * 86400

    def sign(self, target: LinkTarget) -> str:
        return self._serializer.dumps([target.org_id, target.customer_id, target.reminder_id])

    def read(self, token: str) -> LinkTarget:
        try:
            org_id, customer_id, reminder_id = self._serializer.loads(
                token, max_age=self.max_age_seconds
            )
            return LinkTarget(int(org_id), int(customer_id), int(reminder_id))
        except SignatureExpired as exc:
            raise LinkError("link_expired", "this link has expired / 链接已过期") from exc
        except (BadSignature, ValueError, TypeError, OverflowError) as exc:
            # OverflowError/ValueError: a payload of another shape (an older version's token)
            raise LinkError("bad_link", "this link is not valid / 链接无效") from exc


class ShortCodes:
    """Short link codes for SMS, where every character of a link costs segment budget.

    A full token is ~60 characters, which alone nearly fills a 70-character Chinese (UCS-2)
    segment. A short code names only the org and the reminder plus a 64-bit HMAC
    (`<org>.<reminder>.<mac>`, ~25 characters); the server checks the MAC against the row's
    customer and the link's age against the row's creation time, so nothing is stored.
    """

    def __init__(self, key_material: str) -> None:
        self._key = _derive(key_material, "short-links")

    def _mac(self, target: LinkTarget) -> str:
        message = f"{target.org_id}:{target.customer_id}:{target.reminder_id}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()[:8]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def code(self, target: LinkTarget) -> str:
        return f"{base36(target.org_id)}.{base36(target.reminder_id)}.{self._mac(target)}"

    @staticmethod
    def parse(code: str) -> tuple[int, int]:
        """(org_id, reminder_id) a code claims; `verify` must then check it against the row."""
        try:
            org, reminder, _mac = code.split(".")
            return int(org, 36), int(reminder, 36)
        except ValueError as exc:
            raise LinkError("bad_link", "this link is not valid / 链接无效") from exc

    def verify(self, code: str, target: LinkTarget) -> None:
        if not hmac.compare_digest(code.encode(), self.code(target).encode()):
            raise LinkError("bad_link", "this link is not valid / 链接无效")


def base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def link_urls(
    public_url: str | None,
    signer: LinkSigner | None,
    target: LinkTarget,
    short: ShortCodes | None = None,
) -> dict[str, str | None]:
    """The URLs a template may show; none when no public URL is configured. `short_url` (for
    SMS) opens the self-service page through a short code; it needs a reminder."""
    if not public_url or signer is None:
        return {
            "self_service_url": None,
            "click_url": None,
            "unsubscribe_url": None,
            "short_url": None,
        }
    token = signer.sign(target)
    base = public_url.rstrip("/")
    return {
        "self_service_url": f"{base}/s/{token}",
        "click_url": f"{base}/c/{token}",
        "unsubscribe_url": f"{base}/u/{token}",
        "short_url": f"{base}/m/{short.code(target)}"
        if short is not None and target.reminder_id
        else f"{base}/s/{token}",
    }


def link_maker(
    public_url: str | None, key_material: str | None, max_age_days: int = MAX_AGE_DAYS
) -> Callable[[Any], dict[str, str | None]] | None:
    """For the dispatcher: a reminder row → its links (None when links are not configured)."""
    if not public_url or not key_material:
        return None
    signer = LinkSigner(key_material, max_age_days)
    short = ShortCodes(key_material)

    def links(row: Any) -> dict[str, str | None]:
        target = LinkTarget(row.org_id, row.customer_id, row.id)
        return link_urls(public_url, signer, target, short)

    return links


def receipt_path_token(key_material: str, channel_config_id: int) -> str:
    """The unguessable path segment of a channel's receipt URL (providers that cannot sign,
    such as Aliyun and Tencent SMS). Derived, not stored: it rotates with the secret key."""
    digest = hashlib.sha256(_derive(key_material, "receipts") + str(channel_config_id).encode())
    return digest.hexdigest()[:32]


def links_for(settings: Settings) -> Callable[[Any], dict[str, str | None]] | None:
    """Signed customer links for outgoing reminders (None without DUNLIN_PUBLIC_URL)."""
    return link_maker(settings.public_url, settings.secret_key_material, settings.link_max_age_days)
