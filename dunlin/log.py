"""Logging with secrets redacted: credentials never reach a log line."""

from __future__ import annotations

import logging
import re

_PATTERN = re.compile(
    r"(?i)((?:password|passwd|secret|token|api[_-]?key|appsecret|access[_-]?key)\s*[\"']?\s*[:=]\s*[\"']?)"
    r"([^\s\"',&}]+)"
)


def redact(text: str, known_secrets: frozenset[str] = frozenset()) -> str:
    for secret in known_secrets:
        if secret:
            text = text.replace(secret, "***")
    return _PATTERN.sub(r"\1***", text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message; register known secret values as they are loaded."""

    def __init__(self) -> None:
        super().__init__()
        self.known: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message, frozenset(self.known))
        record.args = None
        return True


redacting_filter = RedactingFilter()


def setup_logging(debug: bool = False) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(redacting_filter)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
