"""Secrets at rest: Fernet tokens under key(s) from DUNLIN_SECRET_KEY.

Several comma-separated keys allow rotation: the first encrypts, all decrypt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from dunlin.errors import ConfigError
from dunlin.settings import KEY_FILE


def generate_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    """Encrypts and decrypts small JSON documents (credentials) for storage."""

    def __init__(self, key_material: str) -> None:
        keys = [k.strip() for k in key_material.split(",") if k.strip()]
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "DUNLIN_SECRET_KEY is malformed: each key must be 32 url-safe base64 bytes "
                "(use `dunlin secret-key`). / DUNLIN_SECRET_KEY 格式错误。"
            ) from exc

    def encrypt(self, data: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(data, sort_keys=True).encode()).decode()

    def decrypt(self, token: str) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._fernet.decrypt(token.encode()))
            return data
        except InvalidToken as exc:
            raise ConfigError(
                "stored credentials cannot be decrypted with the configured key(s) / "
                "无法用当前密钥解密已保存的凭据"
            ) from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt under the newest key."""
        return self._fernet.rotate(token.encode()).decode()


def optional_box(key_material: str | None) -> SecretBox | None:
    """A box when a key is configured; senders without stored secrets (outbox) need none."""
    return SecretBox(key_material) if key_material else None


def load_or_create_demo_key(data_dir: Path) -> tuple[str, bool]:
    """The demo's key lives in its data directory; returns (key, created)."""
    path = data_dir / KEY_FILE
    if path.exists():
        return path.read_text().strip(), False
    data_dir.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key, True
