"""The admin API pauses and resumes a customer the one way the CLI does, with its event, and
shows the status summary `dunlin status` prints."""

from decimal import Decimal

from sqlalchemy import select

from dunlin.models import Event
from tests.integration.webhooks.conftest import seed
from tests.integration.webhooks.test_api import auth, make_user


def _events(app, customer_id):
    with app.factory() as s:
        rows = s.scalars(
            select(Event)
            .where(Event.subject_type == "customer", Event.subject_id == customer_id)
            .order_by(Event.id)
        )
        return [(e.kind, e.actor, e.data) for e in rows]


def test_patching_paused_until_pauses_and_resumes_with_the_shared_events(app, client):
    token = make_user(app, "acme")
    customer = seed(app).customer_id
    url = f"/api/v1/customers/{customer}"
    paused = client.patch(
        url, json={"paused_until": "2026-12-31", "tier": "A"}, headers=auth(token)
    )
    assert paused.status_code == 200
    assert paused.json["paused_until"] == "2026-12-31" and paused.json["tier"] == "A"
    resumed = client.patch(url, json={"paused_until": None}, headers=auth(token))
    assert resumed.status_code == 200 and resumed.json["paused_until"] is None
    kinds = [(kind, data) for kind, _actor, data in _events(app, customer)]
    assert kinds == [
        ("customer.paused.other", {"until": "2026-12-31", "before": None}),
        ("customer.changed", {}),
        ("customer.resumed", {"until": None, "before": "2026-12-31"}),
    ]
    assert all(actor.startswith("user:") for _kind, actor, _data in _events(app, customer))


def test_the_status_endpoint_shows_the_summary_the_cli_prints(app, client):
    from dunlin.orgs import get_org
    from reminders.status import status_summary

    seed(app)
    admin = make_user(app, "acme")
    got = client.get("/api/v1/status", headers=auth(admin))
    assert got.status_code == 200, got.json
    with app.factory() as s:
        summary = status_summary(s, get_org(s, "acme"))
    body = got.json
    assert body["open"]["count"] == summary.open.count == 1
    assert {c: Decimal(a) for c, a in body["open"]["totals"].items()} == {"CNY": Decimal("1280")}
    assert body["overdue"]["count"] == 1 and body["reminders"] == {"planned": 1}
    assert body["policy"] == summary.policy and body["in_flight"] == 0
    assert [src["name"] for src in body["sources"]] == [line.name for line in summary.sources]
    sales = make_user(app, "acme", role="sales")
    assert client.get("/api/v1/status", headers=auth(sales)).status_code == 403


def test_customers_are_found_by_exact_external_id_or_name_as_the_cli_finds_them(app, client):
    mine = seed(app, n=0)
    seed(app, external_id="5678", n=1)
    admin = make_user(app, "acme")

    def found(ref, token=admin):
        got = client.get("/api/v1/customers", query_string={"ref": ref}, headers=auth(token))
        assert got.status_code == 200, got.json
        return [c["id"] for c in got.json["items"]]

    assert found("P0") == found("客户 0") == [mine.customer_id]
    assert found("P") == [] and found("客户") == []
    stranger = make_user(app, "acme", role="sales", ref="nobody")
    assert found("P0", stranger) == []  # sales users still see only their own customers
