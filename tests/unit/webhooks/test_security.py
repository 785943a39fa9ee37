"""The protections `webhooks.security.install` gives every response and request: security
headers that a view may override, HSTS only over https, and sessions read only from our own
cookie."""

from __future__ import annotations

from flask import Flask, Response, session

from dunlin.settings import Settings
from webhooks import security

EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": security.PAGE_CSP,
}


def make_app() -> Flask:
    app = Flask(__name__)
    app.secret_key = "test-secret"
    security.install(app, Settings(database_url="sqlite://", _env_file=None))
    app.config["WTF_CSRF_ENABLED"] = False

    @app.get("/plain")
    def plain() -> str:
        return "ok"

    @app.get("/own")
    def own() -> Response:
        # A view's own values win, whatever the case of the header's name.
        return Response("ok", headers={"cache-control": "max-age=60", "X-Frame-Options": "SAME"})

    @app.post("/remember")
    def remember() -> str:
        session["who"] = "ana"
        return "ok"

    @app.get("/who")
    def who() -> str:
        return session.get("who", "nobody")

    return app


def test_every_response_gets_the_security_headers_once():
    response = make_app().test_client().get("/plain")
    for name, value in EXPECTED.items():
        assert response.headers.getlist(name) == [value]
    assert "Strict-Transport-Security" not in response.headers


def test_a_views_own_header_values_are_kept_and_not_doubled():
    response = make_app().test_client().get("/own")
    assert response.headers.getlist("Cache-Control") == ["max-age=60"]
    assert response.headers.getlist("X-Frame-Options") == ["SAME"]
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_hsts_only_over_https():
    client = make_app().test_client()
    secure = client.get("/plain", base_url="https://pay.example.com")
    assert secure.headers.getlist("Strict-Transport-Security") == [
        "max-age=31536000; includeSubDomains"
    ]
    assert "Strict-Transport-Security" not in client.get("/plain").headers


def test_errors_get_the_headers_too():
    response = make_app().test_client().get("/missing")
    assert response.status_code == 404
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_session_comes_from_our_cookie_only():
    app = make_app()
    client = app.test_client()
    assert client.post("/remember").status_code == 200
    assert client.get("/who").get_data(as_text=True) == "ana"

    stranger = app.test_client()
    name = app.config["SESSION_COOKIE_NAME"]
    # Other cookies, even ones whose value mentions our cookie's name, give an empty session.
    stranger.set_cookie("other", f"{name}-lookalike")
    assert stranger.get("/who").get_data(as_text=True) == "nobody"
    # A forged value under our name is refused by the signature, not trusted.
    stranger.set_cookie(name, "forged.value.here")
    assert stranger.get("/who").get_data(as_text=True) == "nobody"
