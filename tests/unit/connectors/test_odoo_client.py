"""Odoo error shapes sorted into Dunlin's classes, at the HTTP level with `responses`."""

from __future__ import annotations

import xmlrpc.client

import pytest
import responses

from connectors.base import (
    RecordRejected,
    SourceAuthError,
    SourceConfigError,
    SourceUnavailable,
)
from connectors.http import RateLimiter
from connectors.odoo.client import OdooClient

URL = "https://erp.example.com/odoo"  # a path prefix and the standard HTTPS port


def _fault(code, string=""):
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, string), methodresponse=True)


def _ok(value):
    return xmlrpc.client.dumps((value,), methodresponse=True)


@pytest.mark.parametrize(
    ("fault_code", "expected"),
    [
        ("warning -- AccessError\n\nYou are not allowed to read invoices", SourceAuthError),
        ("warning -- UserError\n\nThe period is locked", RecordRejected),
        ("warning -- MissingError\n\nRecord does not exist", RecordRejected),
        ("Invalid field 'x_foo' on model 'res.partner'", SourceConfigError),
        ("psycopg2.OperationalError: server closed the connection", SourceUnavailable),
    ],
)
@responses.activate
def test_xmlrpc_faults_are_classified_by_prefix(fault_code, expected):
    responses.post(f"{URL}/xmlrpc/2/common", body=_ok(6))
    responses.post(f"{URL}/xmlrpc/2/object", body=_fault(fault_code, "Traceback"))
    client = OdooClient(URL, "prod", "bot", "key", protocol="xmlrpc")
    with pytest.raises(expected):
        client.call("account.move", "search", domain=[])
    # The prefix and port from the URL are used as given (odoolib would force :8069).
    assert responses.calls[0].request.url == f"{URL}/xmlrpc/2/common"


@responses.activate
def test_xmlrpc_bad_login_is_an_auth_error():
    responses.post(f"{URL}/xmlrpc/2/common", body=_ok(False))
    with pytest.raises(SourceAuthError):
        OdooClient(URL, "prod", "bot", "wrong", protocol="xmlrpc").call("res.partner", "search")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            401,
            {"name": "odoo.exceptions.AccessDenied", "message": "Invalid apikey"},
            SourceAuthError,
        ),
        (403, {"name": "odoo.exceptions.AccessError", "message": "no access"}, SourceAuthError),
        (422, {"name": "builtins.TypeError", "message": "unexpected keyword"}, SourceConfigError),
        (422, {"name": "odoo.exceptions.UserError", "message": "locked"}, RecordRejected),
        (500, {"name": "builtins.ValueError", "message": "Invalid field 'x'"}, SourceConfigError),
        (500, {"name": "builtins.Exception", "message": "boom"}, SourceUnavailable),
        (502, "<html>Bad Gateway</html>", SourceUnavailable),
    ],
)
@responses.activate
def test_json2_statuses(status, body, expected):
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    responses.post(f"{URL}/json/2/res.partner/search_read", status=status, **kwargs)
    client = OdooClient(URL, "prod", "", "api-key", protocol="json2")
    with pytest.raises(expected):
        client.call("res.partner", "search_read", domain=[], fields=["name"])
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == "Bearer api-key"
    assert sent.headers["X-Odoo-Database"] == "prod"


@responses.activate
def test_jsonrpc_error_envelope_under_http_200():
    responses.post(f"{URL}/jsonrpc", json={"jsonrpc": "2.0", "id": 1, "result": 6})
    responses.post(
        f"{URL}/jsonrpc",
        json={
            "jsonrpc": "2.0",
            "id": 2,
            "error": {
                "code": 200,
                "message": "Odoo Server Error",
                "data": {"name": "odoo.exceptions.AccessError", "message": "nope"},
            },
        },
    )
    with pytest.raises(SourceAuthError, match="permission"):
        OdooClient(URL, "prod", "bot", "k").call("account.move", "search", domain=[])


@responses.activate
def test_malformed_json_is_retryable():
    responses.post(f"{URL}/jsonrpc", body='{"jsonrpc": "2.0", "result": [1,')
    with pytest.raises(SourceUnavailable, match="malformed JSON"):
        OdooClient(URL, "prod", "bot", "k").call("res.partner", "search")


def test_rate_limiter_spaces_calls():
    now = [0.0]
    slept: list[float] = []
    limiter = RateLimiter(4, clock=lambda: now[0])
    import connectors.http as http

    original = http.time.sleep
    http.time.sleep = slept.append  # type: ignore[assignment]
    try:
        for _ in range(3):
            limiter.wait()
    finally:
        http.time.sleep = original  # type: ignore[assignment]
    assert slept == [0.25, 0.5]
    assert RateLimiter(0).interval == 0
