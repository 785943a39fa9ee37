"""What every inbound endpoint shares: the store, a JSON refusal that is also logged, and the
record of deliveries already accepted (replays are answered, not applied twice)."""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from flask import Response, current_app, jsonify, request
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from werkzeug.exceptions import HTTPException

from dunlin.app import App
from dunlin.crypto import SecretBox
from dunlin.db import utcnow
from webhooks.models import InboundDelivery

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


def first_delivery(conn: Connection, org_id: int, endpoint: str, delivery_id: str) -> bool:
    """True the first time (endpoint, delivery id) is seen in this org; False for a replay.
    One INSERT … ON CONFLICT DO NOTHING: also the request's first write (SQLite locks here)."""
    row = {
        "org_id": org_id,
        "endpoint": endpoint,
        "delivery_id": delivery_id[:200],
        "received_at": utcnow(),
    }
    return conn.execute(_RECORD_DELIVERY, row).first() is not None


# Plain SQL that SQLite (3.35+) and PostgreSQL both take; SQLAlchemy cannot cache the compiled
# form of its dialect ON CONFLICT constructs, and this runs on every webhook.
_RECORD_DELIVERY = text(
    "INSERT INTO inbound_deliveries (org_id, endpoint, delivery_id, received_at)"
    " VALUES (:org_id, :endpoint, :delivery_id, :received_at)"
    " ON CONFLICT (org_id, endpoint, delivery_id) DO NOTHING RETURNING id"
).bindparams(bindparam("received_at", type_=InboundDelivery.__table__.c.received_at.type))
