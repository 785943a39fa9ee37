"""Protections every response and public request gets: size limits (Flask's
MAX_CONTENT_LENGTH → 413), a per-client rate limit on public endpoints, security headers, CSRF
for form posts (Flask-WTF), and the client address as the reverse proxy saw it."""

from __future__ import annotations

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from dunlin.settings import Settings
from reminders.sending.ratelimit import MemoryLimiter
from webhooks.edge import refuse

csrf = CSRFProtect()
PUBLIC_PREFIXES = ("/hooks/", "/c/", "/s/", "/u/", "/api/v1/session")
# Pages are ours and small: no scripts at all, inline styles only, forms post to ourselves.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# Added to every response unless a view set its own value; the lower-case name is for the
# one pass over the response's headers in `headers` below.
SECURITY_HEADERS = tuple(
    (name.lower(), name, value)
    for name, value in (
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),  # link tokens must not leak onward
        ("Cache-Control", "no-store"),
        ("Content-Security-Policy", PAGE_CSP),
    )
)
HSTS = (
    "strict-transport-security",
    "Strict-Transport-Security",
    "max-age=31536000; includeSubDomains",
)


class CookieOnlySessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built only when a request
    carries a session cookie. Webhooks and API calls never do, and building it for each of
    them was a measurable share of a payment webhook's time."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # The substring test spares parsing the Cookie header of requests that cannot hold
        # ours; a header that merely mentions the name goes on to the real parse.
        name = self.get_cookie_name(app)
        if app.secret_key and (
            name not in request.environ.get("HTTP_COOKIE", "") or not request.cookies.get(name)
        ):
            return self.session_class()
        return super().open_session(app, request)


def install(app: Flask, settings: Settings) -> None:
    app.session_interface = CookieOnlySessions()
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # bound to the session; pages may stay open long
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = (settings.public_url or "").startswith("https://")
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # werkzeug's documented wrap
            app.wsgi_app,
            x_for=settings.proxy_hops,
            x_proto=settings.proxy_hops,
            x_host=settings.proxy_hops,
        )
    csrf.init_app(app)
    # Per process: with several gunicorn workers the effective limit is that many times higher
    # (documented in deploy/). Payment webhooks must never fail because a limiter store is down.
    limiter = MemoryLimiter()
    rate = settings.web_rate_limit

    @app.before_request
    def limit_public() -> None:
        if request.path.startswith(PUBLIC_PREFIXES):
            client = request.remote_addr or "?"
            if limiter.provider_wait(f"web:{client}", rate, rate * 5) > 0:
                refuse(429, "rate_limited", "too many requests, slow down / 请求过于频繁")

    @app.before_request
    def bound_chunked_body() -> None:
        """A chunked body has no Content-Length to refuse up front, and werkzeug then stops
        reading at MAX_CONTENT_LENGTH without an error: a body that reaches the limit
        would be handled cut short. Read it once here (views reuse the cached bytes) and
        refuse it instead."""
        if (
            request.content_length is None
            and "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        ):
            limit = app.config["MAX_CONTENT_LENGTH"]
            if len(request.get_data(cache=True, parse_form_data=False)) >= limit:
                refuse(413, "too_large", f"the body exceeds {limit} bytes / 请求体过大")

    @app.after_request
    def headers(response: Response) -> Response:
        # One pass over the names already set instead of a case-insensitive search per header.
        present = {name.lower() for name, _ in response.headers.items()}
        wanted = SECURITY_HEADERS + (HSTS,) if request.is_secure else SECURITY_HEADERS
        response.headers.extend(
            [(name, value) for lower, name, value in wanted if lower not in present]
        )
        return response
