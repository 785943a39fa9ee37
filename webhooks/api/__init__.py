"""The admin REST API under /api/v1; its OpenAPI 3.1 document is /api/v1/openapi.json."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from webhooks.api import config, errors, ledger, people, sources, templates  # noqa: E402,F401 - routes
from webhooks.api.spec import openapi_document  # noqa: E402

errors.install(bp)


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(openapi_document(bp.url_prefix or ""))
