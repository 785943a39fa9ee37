"""The Flask app: inbound payment webhooks, provider receipts, customer links and the admin API.

`create_app()` follows Flask's app-factory pattern so tests and gunicorn build their own app
(`dunlin serve` runs it under gunicorn; Flask's dev server only with `--dev`).
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask, abort, json, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from connectors.base import ConnectorFactory
from connectors.registry import open_connector as real_open_connector
from dunlin.alerts import install_alerts
from dunlin.app import App
from dunlin.log import guard_handlers, redacting_filter
from dunlin.settings import Settings, get_settings
from reminders.sending.links import flask_secret
from usecases.wiring import wire


def refuse_impossible_ids(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """An `<int:…>` id past PostgreSQL's BIGINT cannot exist: 404 before any query overflows.
    Checked here rather than by the converter's `max`: a converter that refuses makes werkzeug
    answer 405 whenever another method's rule shares the path (DELETE /sources/<id>)."""
    from webhooks.edge import MAX_ID

    if values and any(isinstance(v, int) and v > MAX_ID for v in values.values()):
        abort(404)


def json_errors(exc: HTTPException) -> Response:
    """Every HTTP error as `{"error": {code, message}}` (werkzeug's own are HTML pages),
    keeping its headers (Allow on a 405). Our refusals already are JSON."""
    response = exc.get_response()
    if response.mimetype == "application/json":
        return response
    code = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
    body = {"error": {"code": code, "message": exc.description or exc.name}}
    response.set_data(json.dumps(body, ensure_ascii=False))
    response.mimetype = "application/json"
    return response


def create_app(
    settings: Settings | None = None, open_connector: ConnectorFactory | None = None
) -> Flask:
    """The web app; `open_connector` opens sources' connectors (tests pass an in-memory one)."""
    from webhooks import api, customer_links, payments, pushes, receipts, security

    flask_app = Flask(__name__)
    flask_app.url_value_preprocessor(refuse_impossible_ids)
    flask_app.register_error_handler(HTTPException, json_errors)
    settings = settings or get_settings()
    wire()  # sync's settlements reach the reminders ledger (invariant 2)
    dunlin = App(settings)
    install_alerts(settings.alert_url_list)
    flask_app.extensions["dunlin"] = dunlin
    flask_app.extensions["dunlin_open_connector"] = open_connector or real_open_connector
    key = settings.secret_key_material
    if key:
        redacting_filter.known.add(key)
    flask_app.config["SECRET_KEY"] = flask_secret(key) if key else secrets.token_bytes(32)
    flask_app.json.ensure_ascii = False  # type: ignore[attr-defined]  # typed as the base provider
    security.install(flask_app, settings)
    for blueprint in (payments.bp, pushes.bp, receipts.bp, api.bp):
        # Machine callers: signatures, path secrets or bearer tokens instead of cookies. The
        # API checks CSRF itself when a browser session is what authenticates the call.
        security.csrf.exempt(blueprint)
        flask_app.register_blueprint(blueprint)
    security.csrf.exempt(customer_links.unsubscribe)  # RFC 8058 one-click POSTs carry no token
    flask_app.register_blueprint(customer_links.bp)

    @flask_app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        """Liveness plus a round trip to the database, for load balancers and deploy checks."""
        try:
            with dunlin.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - report any store failure as unhealthy
            return jsonify(status="unhealthy", database=type(exc).__name__), 503
        return jsonify(status="ok", database="ok")

    flask_app.logger  # noqa: B018 - creates Flask's logger (and any handler) to guard now
    guard_handlers()
    return flask_app
