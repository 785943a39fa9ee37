"""What every inbound endpoint shares: the store, a JSON refusal that is also logged, a JSON
body of bounded size and depth without NUL characters, and ids within PostgreSQL's BIGINT.
Replays are recognised by sync.deliveries."""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from flask import Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from connectors.base import ConnectorFactory
from connectors.registry import open_connector
from dunlin import jsonbody
from dunlin.app import App
from dunlin.crypto import SecretBox
from dunlin.log import redact_path

log = logging.getLogger("dunlin.webhooks")
MAX_ID = 2**63 - 1  # PostgreSQL BIGINT: a larger id cannot exist, and comparing one overflows


def dunlin_app() -> App:
    app: App = current_app.extensions["dunlin"]
    return app


def connector_factory() -> ConnectorFactory:
    """The app's connector factory (create_app's `open_connector`)."""
    return current_app.extensions.get("dunlin_open_connector", open_connector)


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
    """Log the refusal (path without query, its secrets masked) and raise the 4xx."""
    log.warning(
        "refused %s %s: %s %s (%s)",
        request.method,
        redact_path(request.path),
        status,
        code,
        reason,
    )
    raise Refused(status, code, reason)


def json_body() -> Any:
    """The request's JSON body, for every endpoint that takes one: declared as JSON, within
    MAX_CONTENT_LENGTH (413 before anything is read), at most MAX_JSON_DEPTH deep (checked
    before parsing), no NaN/Infinity, no NUL characters."""
    if not request.is_json:
        refuse(400, "bad_json", "the body is not JSON (Content-Type) / 请求体不是 JSON")
    try:
        data = jsonbody.loads(request.get_data(cache=True))
    except jsonbody.JsonRefused as exc:
        refuse(400, exc.code, exc.reason)
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


def parse_id(text: str | None) -> int:
    """A row id from a form or query: digits within BIGINT, else ValueError."""
    value = (text or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 19 or int(value) > MAX_ID:
        raise ValueError(f"not an id: {value[:24]!r}")
    return int(value)
