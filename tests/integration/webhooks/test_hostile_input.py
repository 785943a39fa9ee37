"""Nothing a stranger sends gets a 5xx: ids beyond BIGINT, JSON nested 100,000 deep, amounts
no column can hold, bodies over the limit, unknown routes and methods all get a 4xx with a
JSON reason. On PostgreSQL an id beyond BIGINT used to overflow in the query (a 500)."""

from __future__ import annotations

import re
import time
from urllib.parse import quote

import pytest

from reminders.sending.links import LinkSigner, LinkTarget, receipt_path_token
from tests.integration.webhooks.conftest import seed

HUGE = str(2**64)  # above BIGINT (2^63 - 1)
DEEP = "[" * 100_000
DEEP_OBJECT = '{"a":' * 100_000


def json_error(response, status: int | tuple[int, ...]) -> dict:
    wanted = status if isinstance(status, tuple) else (status,)
    assert response.status_code in wanted, (response.status_code, response.data[:300])
    assert response.mimetype == "application/json", response.data[:300]
    error = response.json["error"]
    assert error["code"] and error["message"]
    return error


def test_ids_beyond_bigint_are_404_on_every_hook(app, client):
    s = seed(app)
    key = app.settings.require_secret_key()
    for method, path in (
        ("post", f"/hooks/odoo/{HUGE}/{s.secret}"),
        ("post", f"/hooks/jiandaoyun/{HUGE}"),
        ("post", f"/hooks/payments/{HUGE}"),
        ("post", f"/hooks/push/{HUGE}"),
        ("post", f"/hooks/receipts/{HUGE}/{receipt_path_token(key, 2**64)}"),
        ("get", f"/hooks/receipts/{HUGE}/x"),
        ("get", f"/api/v1/customers/{HUGE}"),
    ):
        # 405 where a route for another method has the same shape (werkzeug's matcher)
        json_error(getattr(client, method)(path, json={"_id": 1}), (404, 405))


def test_self_service_form_ids_beyond_bigint_are_refused(app, client):
    s = seed(app)
    token = LinkSigner(app.settings.require_secret_key()).sign(
        LinkTarget(s.org_id, s.customer_id, s.reminder_id)
    )
    page = client.get(f"/s/{token}")
    csrf = re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()
    for invoice in (HUGE, "-" + HUGE, "1e3", "٣"):
        response = client.post(
            f"/s/{token}/dispute", data={"invoice": invoice, "reason": "x", "csrf_token": csrf}
        )
        json_error(response, 422)
    json_error(client.post(f"/s/{token}/dispute", data={"invoice": "1"}), 400)  # no CSRF
    big = "x" * (app.settings.max_request_bytes + 1)
    json_error(client.post(f"/s/{token}/dispute", data={"reason": big, "csrf_token": csrf}), 413)


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT])
def test_json_nested_100000_deep_is_refused_everywhere(app, client, body):
    s = seed(app)
    headers = {"Content-Type": "application/json"}
    for path in (
        "/api/v1/session",
        f"/hooks/odoo/{s.source_id}/{s.secret}",
    ):
        error = json_error(client.post(path, data=body, headers=headers), 400)
        assert error["code"] == "too_deep"


@pytest.mark.parametrize(
    "amount",
    [
        "99999999999999999999999999999.99",
        99999999999999999999999999999.99,
        "1e400",
        -(10**17),
        "NaN",
        "Infinity",
    ],
)
def test_amounts_no_column_can_hold_are_422(app, client, amount):
    s = seed(app)
    body = {"_id": 1234, "amount_residual": amount, "payment_state": "partial"}
    error = json_error(client.post(f"/hooks/odoo/{s.source_id}/{s.secret}", json=body), 422)
    assert "amount" in error["message"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_json_numbers_are_bad_json(app, client, literal):
    s = seed(app)
    body = '{"_id": 1234, "amount_residual": ' + literal + "}"
    response = client.post(
        f"/hooks/odoo/{s.source_id}/{s.secret}",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert json_error(response, 400)["code"] == "bad_json"


def test_oversized_bodies_unknown_routes_and_methods_answer_json(app, client):
    s = seed(app)
    big = "x" * (app.settings.max_request_bytes + 1)
    for path in (
        f"/hooks/odoo/{s.source_id}/{s.secret}",
        f"/hooks/jiandaoyun/{s.source_id}",
        "/api/v1/session",
    ):
        json_error(client.post(path, data=big, headers={"Content-Type": "application/json"}), 413)
    json_error(client.get("/hooks/nowhere"), 404)
    json_error(client.get("/s/"), 404)
    not_allowed = json_error(client.get(f"/hooks/odoo/{s.source_id}/{s.secret}"), 405)
    assert not_allowed  # and the Allow header survives:
    assert "POST" in client.get(f"/hooks/payments/{s.source_id}").headers["Allow"]


# What callers can put where a signature, timestamp or token is expected. "²" and "٣" pass
# str.isdigit but not int(); 400 digits overflow a float; hmac.compare_digest raises on a
# non-ASCII str.
HOSTILE = ["é", "²", "٣", "9" * 400, "9" * 5000, "", " ", "-1", "1.5", "t=1,v1=2", "../x"]
LATIN1 = [v for v in HOSTILE if all(ord(c) < 256 for c in v)]


def test_signature_and_timestamp_fields_take_anything(app, client):
    s = seed(app)
    now = str(int(time.time()))
    for value in LATIN1:
        for headers, query in (
            ({"X-JDY-Signature": value, "X-JDY-DeliverId": "d"}, {"timestamp": now}),
            ({"X-JDY-Signature": "0" * 40}, {"timestamp": value, "nonce": value}),
        ):
            response = client.post(
                f"/hooks/jiandaoyun/{s.source_id}", json={}, headers=headers, query_string=query
            )
            json_error(response, 401)
        for header in (f"t={value},v2=ab", f"t={now},v2={value}", f"t={now},v1={value}", value):
            response = client.post(
                f"/hooks/payments/{s.source_id}",
                json={},
                headers={"Dunlin-Signature": header, "Dunlin-Event-Id": "evt-1"},
            )
            json_error(response, 401)


def test_path_tokens_take_anything(app, client):
    s = seed(app)
    token = LinkSigner(app.settings.require_secret_key()).sign(
        LinkTarget(s.org_id, s.customer_id, s.reminder_id)
    )
    for value in HOSTILE:
        segment = quote(value, safe="") or "%20"
        json_error(client.post(f"/hooks/receipts/1/{segment}", json={}), (404, 405))
        json_error(client.get(f"/hooks/receipts/1/{segment}"), 404)
        json_error(client.post(f"/hooks/odoo/{s.source_id}/{segment}", json={}), (401, 404))
        for kind in ("c", "s", "u"):
            json_error(client.get(f"/{kind}/{segment}"), (404, 405, 410))
        json_error(client.post(f"/s/{token}/{segment}"), (400, 404))
