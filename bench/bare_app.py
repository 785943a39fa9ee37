"""The baseline for bench/webhooks: a bare Flask JSON endpoint, served the same way."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/hooks/bare")
def bare():  # type: ignore[no-untyped-def]
    request.get_json(silent=True)
    return jsonify(status="ok")


@app.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    return jsonify(status="ok")
