"""Every answer under /api/v1 is JSON, errors included: routing misses (an id that is not an
integer, a path that does not exist), wrong methods, oversized bodies and any other HTTP error
get the same `{"error": {"code", "message"}}` body as the API's own refusals.

Flask calls a blueprint's error handlers only for requests that matched one of its routes, so a
routing miss under the prefix is answered with a JSON refusal before dispatch instead; the rest
of the app (public pages, webhooks) keeps its own handling, and the API keeps JSON even if the
app registers handlers of its own for 404 or 405.
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import RequestRedirect

from webhooks.edge import Refused

# Codes (and the API's bilingual wording) for the errors werkzeug raises; any other keeps its
# HTTP name as the code and werkzeug's description.
CODES = {
    400: ("bad_request", "the request is malformed / 请求格式错误"),
    404: ("not_found", "not found / 未找到"),
    405: ("method_not_allowed", "this method is not allowed here / 不支持此方法"),
    413: ("too_large", "the body is too large / 请求体过大"),
    415: ("unsupported_media_type", "send JSON / 请发送 JSON"),
}


def install(bp: Blueprint) -> None:
    prefix = (bp.url_prefix or "").rstrip("/") + "/"

    @bp.before_app_request
    def json_routing_errors() -> Response | None:
        exc = request.routing_exception
        if exc is None or isinstance(exc, RequestRedirect):
            return None
        if request.path.startswith(prefix) or request.path == prefix.rstrip("/"):
            # Answered here, not raised: an app-wide handler for the same status (public pages
            # may want HTML) must not reach requests under the API's prefix.
            return JsonError(exc).get_response()
        return None

    @bp.errorhandler(HTTPException)
    def json_http_errors(exc: HTTPException) -> Response | HTTPException:
        return exc if isinstance(exc, Refused) else JsonError(exc).get_response()


class JsonError(Refused):
    """A werkzeug HTTP error re-dressed as the API's JSON refusal (keeping 405's Allow)."""

    def __init__(self, exc: HTTPException) -> None:
        status = exc.code or 500
        code, message = CODES.get(status, (_slug(exc.name), exc.description or exc.name))
        super().__init__(status, code, message)
        self.allow = (
            getattr(exc, "valid_methods", None) if isinstance(exc, MethodNotAllowed) else None
        )

    def get_response(self, environ: object = None, scope: object = None) -> Response:
        response = super().get_response()
        if self.allow:
            response.headers["Allow"] = ", ".join(self.allow)
        return response


def _slug(name: str) -> str:
    return name.lower().replace(" ", "_").replace("'", "")
