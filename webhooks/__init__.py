"""The Flask app: inbound webhooks, customer links and the admin API (issue 6 builds them out).

`create_app()` follows Flask's app-factory pattern so tests and gunicorn build their own app.
"""

from __future__ import annotations

from flask import Flask, jsonify
from sqlalchemy import text

from dunlin.app import App
from dunlin.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> Flask:
    flask_app = Flask(__name__)
    dunlin = App(settings or get_settings())
    flask_app.extensions["dunlin"] = dunlin

    @flask_app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        """Liveness plus a round trip to the database, for load balancers and deploy checks."""
        try:
            with dunlin.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - report any store failure as unhealthy
            return jsonify(status="unhealthy", database=type(exc).__name__), 503
        return jsonify(status="ok", database="ok")

    return flask_app
