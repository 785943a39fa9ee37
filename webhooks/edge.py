"""What every inbound endpoint shares: the store, a JSON refusal that is also logged, and a
JSON body without NUL characters. Replays are recognised by dunlin.deliveries."""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from flask import Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from dunlin.app import App
from dunlin.crypto import SecretBox

log = logging.getLogger("dunlin.webhooks")


def dunlin_app() -> App:
    return current_app.extensions["dunlin"]


def secret_box() -> SecretBox:
    return SecretBox(dunlin_app().settings.require_secret_key())


class Refused(HTTPException):
    """A 4xx with a machine-readable code and a reason a person can act on."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(description=reason)
        self.code = status
        self.error_code = code
        self.reason = reason

    def get_response(self, environ: Any = None, scope: Any = None) -> Response:
        response = jsonify(error={"code": self.error_code, "message": self.reason})
        response.status_code = self.code or 400
        return response


def refuse(status: int, code: str, reason: str) -> NoReturn:
    """Log the refusal (path without query: secrets may sit in it) and raise the 4xx."""
    log.warning(
        "refused %s %s: %s %s (%s)",
        request.method,
        _safe_path(),
        status,
        code,
        reason,
    )
    raise Refused(status, code, reason)


def _safe_path() -> str:
    """The path with long opaque segments (URL secrets, tokens) masked."""
    return "/".join(p if len(p) < 20 else p[:4] + "…" for p in request.path.split("/"))


def json_body() -> Any:
    data = request.get_json(silent=True)
    if data is None:
        refuse(400, "bad_json", "the body is not JSON / 请求体不是 JSON")
    if has_nul(data):
        refuse(400, "nul_byte", "the body contains a NUL character / 含有 NUL 字符")
    return data


def has_nul(value: Any) -> bool:
    """PostgreSQL text cannot hold NUL, and no legitimate value carries one."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False
