"""Logging with secrets redacted: credentials, URL secrets and tokens never reach a log line.

`redact` is the one function that masks them; `RedactingFilter` applies it to every record
(message, arguments, traceback) on each handler it guards, and `guard_handlers` puts it on
every handler that exists (root, werkzeug, flask.app, gunicorn.access, gunicorn.error, ...).
What counts as secret:

- values registered in `redacting_filter.known` (webhook secrets, keys, channel credentials);
- `key=value` pairs whose key names a password, secret, token, signature or key;
- the path segment that carries a secret: `/hooks/odoo/<id>/<secret>`,
  `/hooks/receipts/<id>/<token>`, and customer links `/c/<token>`, `/s/<token>`, `/u/<token>`;
- query parameters that carry one (`?signature=`, `&token=`, `msg_signature`, `echostr`...);
- `Authorization` and `Cookie` header values, bearer tokens, and our API tokens (`dln_…`);
- anything shaped like a signed link token (itsdangerous' payload.timestamp.signature).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"

_PATTERN = re.compile(
    r"(?i)((?:password|passwd|secret|token|api[_-]?key|appsecret|access[_-]?key)\s*[\"']?\s*[:=]\s*[\"']?)"
    r"([^\s\"',&}]+)"
)
# Where a URL path starts in free text: the start, after a space, quote or bracket, or after
# the `//host` of a full URL. Keeps "/s/" inside an unrelated word from being rewritten.
_PATH_START = r"(?:^|(?<=[\s\"'(\[<=,])|(?<=//)[^/\s\"'<>]+)"
_SECRET_SEGMENT = re.compile(
    rf"({_PATH_START}(?:/[^/\s\"'?#<>]+)*?/(?:hooks/(?:odoo|receipts)/[^/\s\"'?#<>]+|[csu])/)"
    r"([^/\s\"'?#<>:,;)\]]+)"  # our tokens are base64url, hex or dotted: none has these
)
# Query parameters (also form-encoded bodies and `k=v` in messages) that carry a secret.
_SECRET_PARAM = re.compile(
    r"(?i)((?:^|[?&;\s\"'])(?:[\w.-]*(?:token|secret|signature|password|passwd)|sign|sig|key|"
    r"api[_-]?key|echostr|auth)=)([^&\s\"'#;]+)"
)
_AUTH_HEADER = re.compile(
    r"(?i)((?:authorization|proxy-authorization|cookie|set-cookie|x-api-key)[\"']?\s*[:=]\s*"
    r"[\"']?)([^\r\n\"']+)"
)
_BEARER = re.compile(r"(?i)\b((?:bearer|basic)\s+)([A-Za-z0-9._~+/=-]{8,})")
_PATTERN_WORDS = ("pass", "secret", "token", "key")
_API_TOKEN = re.compile(r"\bdln_[A-Za-z0-9_-]+")
# itsdangerous: base64url payload . 6-character timestamp . 27-character HMAC-SHA1 signature.
_SIGNED_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_.-])\.?[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27}(?![A-Za-z0-9_-])"
)


def redact(text: str, known_secrets: Iterable[str] = frozenset()) -> str:
    """`text` with every secret this module knows how to see replaced by `***`."""
    for secret in known_secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    # Each pattern runs only where a cheap substring test says it can match: this runs on
    # every access-log line, and the regexes alone cost ~150 µs a line.
    lower = text.lower()
    if "/c/" in text or "/s/" in text or "/u/" in text or "/hooks/" in text:
        text = _SECRET_SEGMENT.sub(rf"\1{MASK}", text)
    if "=" in text:
        text = _SECRET_PARAM.sub(rf"\1{MASK}", text)
    if "authorization" in lower or "cookie" in lower or "x-api-key" in lower:
        text = _AUTH_HEADER.sub(rf"\1{MASK}", text)
    if "bearer" in lower or "basic" in lower:
        text = _BEARER.sub(rf"\1{MASK}", text)
    if "dln_" in text:
        text = _API_TOKEN.sub(f"dln_{MASK}", text)
    if text.count(".") >= 2:
        text = _SIGNED_TOKEN.sub(MASK, text)
    if any(word in lower for word in _PATTERN_WORDS):
        text = _PATTERN.sub(rf"\1{MASK}", text)
    return text


def redact_path(path: str, known_secrets: Iterable[str] = frozenset()) -> str:
    """A request path (with or without its query) for a log line: `redact`, and any other
    long opaque segment masked too, since a path segment of 20+ token characters is a
    secret far more often than a name."""
    masked = redact(path, known_secrets)
    head, sep, query = masked.partition("?")
    segments = [
        f"{p[:4]}{MASK}" if len(p) >= 20 and _OPAQUE.fullmatch(p) else p for p in head.split("/")
    ]
    return "/".join(segments) + sep + query


_OPAQUE = re.compile(r"[A-Za-z0-9_.~%=+-]+")


class RedactingFilter(logging.Filter):
    """Rewrites each record's message and traceback; register known secret values as they
    are loaded (`redacting_filter.known.add(...)`)."""

    def __init__(self) -> None:
        super().__init__()
        self.known: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        known = tuple(self.known)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message, known)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, known)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, known)
        return True


redacting_filter = RedactingFilter()
WEB_LOGGERS = ("werkzeug", "flask.app", "gunicorn.access", "gunicorn.error", "gunicorn")


def guard_handlers(*names: str) -> None:
    """Put the redacting filter on every handler of the root logger, the web loggers, the
    loggers named, and any other logger that exists now."""
    manager = logging.root.manager
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [logging.getLogger(name) for name in (*WEB_LOGGERS, *names)]
    loggers += [lg for lg in list(manager.loggerDict.values()) if isinstance(lg, logging.Logger)]
    for logger in loggers:
        for handler in logger.handlers:
            if redacting_filter not in handler.filters:
                handler.addFilter(redacting_filter)


def setup_logging(debug: bool = False) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(redacting_filter)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    guard_handlers()
