"""The generic REST connector proven by the Jiandaoyun mapping, against a fake over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
import responses
from sqlalchemy import func, select

from connectors.base import SourceAuthError, TaskRequest
from connectors.rest import RestConnector, fill
from mappings import load_mapping, parse_mapping, resolve
from sync.models import Customer, Receivable
from sync.run import sync_sources
from tests.fakes.jiandaoyun import API_KEY, APP_ID, ENTRIES, FakeJiandaoyun, served
from tests.integration.sync.conftest import add_rest_source, reconcile_due

SETTINGS = {
    "app_id": APP_ID,
    "customer_entry_id": ENTRIES["customers"],
    "invoice_entry_id": ENTRIES["invoices"],
    "log_entry_id": ENTRIES["log"],
    "rate_limit": 0,
}


@pytest.fixture
def jdy() -> Iterator[FakeJiandaoyun]:
    fake = FakeJiandaoyun()
    fake.seed(9, customers=15, invoices=230)  # three pages of 100
    with served(fake) as server:
        fake.url = server.url
        yield fake


def _add(app, box, fake, token=API_KEY):
    add_rest_source(app, box, "jdy", "jiandaoyun", {"url": fake.url, **SETTINGS}, {"token": token})


def test_sync_pages_with_the_data_id_cursor_in_the_body(app, box, jdy):
    _add(app, box, jdy)
    (report,) = sync_sources(app.factory, box, "acme", sleep=lambda _s: None)
    assert report.status == "ok", report.detail
    assert report.entities["receivables"].pages == 3
    with app.factory() as s:
        assert s.scalar(select(func.count()).select_from(Receivable)) == 230
        customer = s.scalar(select(Customer).where(Customer.external_id == "C00001"))
        assert customer.mobile == "+8613900000001" and customer.salesperson_name == "张伟"
        assert customer.tier in ("A", "B", "C")


def test_the_reconcile_cancels_a_record_deleted_where_records_cannot_be_read_by_id(app, box, jdy):
    _add(app, box, jdy)
    sync_sources(app.factory, box, "acme", sleep=lambda _s: None)
    gone = jdy.forms[ENTRIES["invoices"]].pop(7)
    reconcile_due(app)
    (report,) = sync_sources(app.factory, box, "acme", sleep=lambda _s: None)
    assert report.status == "ok" and report.reconciled == 1
    with app.factory() as s:
        deleted = s.scalar(select(Receivable).where(Receivable.external_id == gone["_id"]))
        assert deleted.status == "cancelled"
        assert s.scalar(select(func.count()).where(Receivable.status == "cancelled")) == (
            1 + sum(r["_widget_2007"] == "作废" for r in jdy.forms[ENTRIES["invoices"]])
        )


def test_the_reconcile_closes_more_receivables_than_one_statement_may_name(app, box, jdy):
    """SQLite's default build takes at most 32,766 parameters a statement (this machine's
    takes 250,000; the limit is set here as the default build has it): closing is done in
    bounded chunks."""
    import sqlite3

    from sqlalchemy import event

    from dunlin.bulk import analyze_after_bulk, upsert_rows
    from dunlin.db import transaction, utcnow

    if app.engine.dialect.name == "sqlite":

        def default_limit(dbapi_conn, _record):
            dbapi_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32_766)

        event.listen(app.engine, "connect", default_limit)
        app.engine.dispose()  # connections opened from here on get the limit
    _add(app, box, jdy)
    sync_sources(app.factory, box, "acme", sleep=lambda _s: None)
    with transaction(app.factory) as s:
        known = s.scalar(select(Receivable).limit(1))
        now = utcnow()
        extra = [
            {
                "org_id": known.org_id,
                "source_id": known.source_id,
                "customer_id": known.customer_id,
                "external_id": f"gone-{n}",
                "number": f"GONE-{n}",
                "currency": "CNY",
                "amount_total": Decimal("10"),
                "amount_open": Decimal("10"),
                "due_on": date(2026, 11, 1),
                "status": "open",
                "do_not_remind": False,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(33_000)
        ]
        upsert_rows(
            s,
            Receivable.__table__,
            extra,
            key=("org_id", "source_id", "external_id"),
            update=["status"],
        )
    with app.factory() as s:  # as an import of that many would
        analyze_after_bulk(s, len(extra), "receivables")
    reconcile_due(app)
    (report,) = sync_sources(app.factory, box, "acme", sleep=lambda _s: None)
    assert report.status == "ok", report.detail
    assert report.reconciled == 33_000
    with app.factory() as s:
        still_open = select(func.count()).where(
            Receivable.external_id.like("gone-%"), Receivable.status == "open"
        )
        assert s.scalar(still_open) == 0


def test_incremental_sync_filters_on_update_time(app, box, jdy):
    _add(app, box, jdy)
    sync_sources(app.factory, box, "acme", sleep=lambda _s: None)
    row = jdy.forms[ENTRIES["invoices"]][5]
    jdy.update(row, {"_widget_2004": 0, "_widget_2007": "已收"}, "2026-12-02T01:00:00.000Z")
    (report,) = sync_sources(app.factory, box, "acme", sleep=lambda _s: None)
    assert report.entities["receivables"].records < 20  # the change + the 15-minute overlap
    with app.factory() as s:
        rec = s.scalar(select(Receivable).where(Receivable.external_id == row["_id"]))
        assert rec.status == "paid" and rec.amount_open == Decimal(0)


def test_wrong_api_key_is_an_auth_failure(app, box, jdy):
    _add(app, box, jdy, token="nope")
    (report,) = sync_sources(app.factory, box, "acme", sleep=lambda _s: None)
    assert report.status == "failing" and "401" in report.detail


def test_notes_are_created_in_the_log_form(jdy):
    connector = RestConnector(
        load_mapping("jiandaoyun"), {"url": jdy.url, **SETTINGS}, {"token": API_KEY}
    )
    invoice = jdy.forms[ENTRIES["invoices"]][0]
    note_id = connector.post_note("receivables", invoice["_id"], "<p>sent [dunlin r1]</p>")
    (log,) = jdy.forms[ENTRIES["log"]]
    assert log["_id"] == note_id
    assert log["_widget_3001"] == invoice["_id"] and log["_widget_3002"] == "sent [dunlin r1]"


REST_MAPPING = """\
version: 1
kind: rest
name: crm
source:
  page_size: 2
  rate_limit: 0
  auth: {type: token_endpoint, token_url: /oauth/token, token_path: data.token, expires_path: data.ttl}
  customers:
    path: /v1/customers
    method: GET
    records: items
    id_field: id
    paging: {type: page, where: query, param: page, size_param: per_page, start: 1}
  receivables:
    path: /v1/invoices
    method: GET
    records: items
    id_field: id
    paging: {type: offset, where: query, param: offset, size_param: limit}
customer:
  external_id: id
  name: name
receivable:
  external_id: id
  customer_external_id: customer
  amount_total: total
  due_on: due
"""


@responses.activate
def test_token_endpoint_query_paging_and_a_refresh_after_401():
    mapping = parse_mapping(REST_MAPPING, "crm.yaml")
    base = "https://crm.example.com"
    responses.post(f"{base}/oauth/token", json={"data": {"token": "t1", "ttl": 7200}})
    responses.get(f"{base}/v1/customers", json={"items": [{"id": 1}, {"id": 2}]})
    responses.get(f"{base}/v1/customers", status=401, json={"error": "expired"})
    responses.post(f"{base}/oauth/token", json={"data": {"token": "t2", "ttl": 7200}})
    responses.get(f"{base}/v1/customers", json={"items": [{"id": 3}]})
    connector = RestConnector(mapping, {"url": base}, {"client_id": "c", "client_secret": "s"})
    first = connector.read_page("customers", connector.begin("customers", {}, full=True))
    assert not first.done and first.cursor["position"] == 2
    second = connector.read_page("customers", first.cursor)
    assert second.done and second.records == [{"id": 3}]
    calls = [(c.request.method, c.request.url) for c in responses.calls]
    assert calls[1] == ("GET", f"{base}/v1/customers?page=1&per_page=2")
    assert calls[-1] == ("GET", f"{base}/v1/customers?page=2&per_page=2")
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer t2"


@responses.activate
def test_a_second_401_is_an_auth_error():
    mapping = parse_mapping(REST_MAPPING, "crm.yaml")
    base = "https://crm.example.com"
    responses.post(f"{base}/oauth/token", json={"data": {"token": "t", "ttl": 7200}})
    responses.get(f"{base}/v1/invoices", status=401)
    connector = RestConnector(mapping, {"url": base}, {"client_id": "c", "client_secret": "s"})
    with pytest.raises(SourceAuthError):
        connector.read_page("receivables", connector.begin("receivables", {}, full=True))


def test_fill_replaces_placeholders_keeping_types():
    template = {"a": "{since}", "b": ["x-{app_id}"], "c": 3}
    assert fill(template, {"since": None, "app_id": "z"}) == {"a": None, "b": ["x-z"], "c": 3}
    assert "{external_id}" in resolve("jiandaoyun").read_text()
    assert TaskRequest("receivables", "1", "s", "<p/>", date(2026, 1, 1)).user_ref is None


@pytest.mark.parametrize(
    ("auth", "check"),
    [
        ("{type: query, query_param: key}", lambda r: "key=tok" in r.url),
        ("{type: header, header: X-Api-Key}", lambda r: r.headers["X-Api-Key"] == "tok"),
        (
            "{type: hmac}",
            lambda r: (
                r.headers["X-Signature"]
                == __import__("hmac")
                .new(b"hsec", r.headers["X-Timestamp"].encode() + b"." + r.body, "sha256")
                .hexdigest()
            ),
        ),
    ],
)
@responses.activate
def test_other_auth_kinds(auth, check):
    text = REST_MAPPING.replace(
        "auth: {type: token_endpoint, token_url: /oauth/token, token_path: data.token, expires_path: data.ttl}",
        f"auth: {auth}",
    ).replace(
        "    method: GET\n    records: items\n    id_field: id\n    paging: {type: page",
        "    records: items\n    id_field: id\n    paging: {type: page",
    )
    mapping = parse_mapping(text, "crm.yaml")
    responses.post("https://crm.example.com/v1/customers", json={"items": []})
    connector = RestConnector(
        mapping, {"url": "https://crm.example.com"}, {"token": "tok", "hmac_secret": "hsec"}
    )
    connector.read_page("customers", connector.begin("customers", {}, full=True))
    assert check(responses.calls[0].request)
