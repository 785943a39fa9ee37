"""The outbox channel: every message becomes a file, like Django's file email backend.

Email is written as an RFC 5322 `.eml` (open it in any mail client); other channels as JSON
with exactly what would be sent. File names come from the ledger key, so re-running writes the
same files rather than new ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from reminders.sending.channels.base import (
    Outcome,
    OutgoingMessage,
    RecipientLimit,
    SendResult,
)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_stem(key: str) -> str:
    return _UNSAFE.sub("_", key)


def build_email(message: OutgoingMessage) -> EmailMessage:
    email = EmailMessage()
    email["From"] = message.sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.created_at)
    digest = hashlib.sha256(message.key.encode()).hexdigest()[:32]
    email["Message-ID"] = f"<{digest}@dunlin.local>"
    email["Content-Language"] = message.locale.replace("_", "-")
    unsubscribe = message.variables.get("unsubscribe_url")
    if unsubscribe:  # as the SMTP channel sends it, so the demo's .eml shows the real header
        email["List-Unsubscribe"] = f"<{unsubscribe}>"
        if unsubscribe.startswith("https://"):  # RFC 8058 one-click needs HTTPS
            email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    email.set_boundary(f"=_dunlin_{digest}")  # stable bytes for the same message
    return email


class OutboxChannel:
    """Writes to <directory>/<channel>/<key>.(eml|json); one instance serves every channel name."""

    rate_per_second: float | None = None
    recipient_limits: tuple[RecipientLimit, ...] = ()

    def __init__(self, directory: Path, name: str = "outbox") -> None:
        self.directory = directory
        self.name = name

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # atomic: a reader never sees half a message

    def send(self, message: OutgoingMessage) -> SendResult:
        folder = self.directory / message.channel
        stem = file_stem(message.key)
        try:
            if message.channel == "email":
                path = folder / f"{stem}.eml"
                self._write(path, bytes(build_email(message)))
            else:
                path = folder / f"{stem}.json"
                body = {
                    "key": message.key,
                    "channel": message.channel,
                    "to": message.recipient,
                    "locale": message.locale,
                    "text": message.short,
                    "subject": message.subject,
                    "created_at": message.created_at.isoformat(),
                    "metadata": message.metadata,
                }
                self._write(
                    path, json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True).encode()
                )
        except OSError as exc:
            return SendResult(Outcome.RETRY_LATER, detail=f"outbox write failed: {exc}")
        return SendResult(Outcome.SENT, provider_message_id=str(path.relative_to(self.directory)))

    def close(self) -> None:
        return None
