"""The sealing side of the WeChat-family envelope (WeCom, WeChat safe mode, YonSuite event
push), for fakes that send what those platforms send. Production code only opens envelopes."""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def seal(key: bytes, message: bytes, receive_id: bytes) -> str:
    """AES-256-CBC (IV = key[:16]) of random(16) || uint32_be(len) || message || receive id,
    padded PKCS#7-style to a multiple of 32 bytes; base64."""
    plain = os.urandom(16) + len(message).to_bytes(4, "big") + message + receive_id
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()
