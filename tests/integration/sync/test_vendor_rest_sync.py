"""YonSuite and Fxiaoke through the generic REST connector and their shipped mappings."""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal

from sqlalchemy import func, select

from sync.models import Receivable
from sync.run import sync_sources
from tests.fakes import fxiaoke, yonsuite
from tests.integration.sync.conftest import add_rest_source

NO_SLEEP = lambda _s: None  # noqa: E731


def _count(app):
    with app.factory() as s:
        return s.scalar(select(func.count()).select_from(Receivable))


@contextmanager
def _yonsuite(app, box, receivables, app_secret=yonsuite.APP_SECRET):
    """A seeded fake YonSuite and a source pointing at it (gateway and token host alike)."""
    fake = yonsuite.FakeYonSuite()
    fake.seed(2, customers=10, receivables=receivables)
    with yonsuite.served(fake) as server:
        settings = {"url": server.url, "token_url": server.url}
        credentials = {"app_key": yonsuite.APP_KEY, "app_secret": app_secret}
        add_rest_source(app, box, "ys", "yonsuite", settings, credentials)
        yield fake


def test_yonsuite_signed_token_paging_and_a_renewed_token(app, box):
    with _yonsuite(app, box, receivables=230) as fake:
        (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
        assert report.status == "ok", report.detail
        assert _count(app) == 230 and fake.token_calls == 1
        fake.expire_tokens()  # code 10004: a new token, then the call again
        (again,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
        assert again.status == "ok", again.detail
        assert fake.token_calls == 2


def test_yonsuite_wrong_secret_fails_with_its_own_text(app, box):
    with _yonsuite(app, box, receivables=5, app_secret="wrong"):
        (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "failing" and "签名不正确" in report.detail


@contextmanager
def _yonsuite_suite(app, box, receivables, **credentials):
    """The shipped mapping as an ISV suite app: app_type and tenant_id are source settings."""
    fake = yonsuite.FakeYonSuite()
    fake.seed(3, customers=10, receivables=receivables)
    with yonsuite.served(fake) as server:
        settings = {
            "url": server.url,
            "token_url": server.url,
            "app_type": "suite",
            "tenant_id": credentials.pop("tenant_id", yonsuite.TENANT_ID),
        }
        given = {"suite_key": yonsuite.SUITE_KEY, "suite_secret": yonsuite.SUITE_SECRET}
        add_rest_source(app, box, "ys", "yonsuite", settings, {**given, **credentials})
        yield fake


def test_yonsuite_suite_app_token_paging_and_a_renewed_token(app, box):
    with _yonsuite_suite(app, box, receivables=150) as fake:
        (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
        assert report.status == "ok", report.detail
        assert _count(app) == 150 and fake.token_kinds == ["suite"]
        fake.expire_tokens()
        (again,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
        assert again.status == "ok", again.detail
        assert fake.token_kinds == ["suite", "suite"]


def test_yonsuite_suite_app_wrong_secret_or_tenant_fails_with_the_vendors_text(app, box):
    with _yonsuite_suite(app, box, receivables=5, suite_secret="wrong") as fake:
        (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "failing" and "签名不正确" in report.detail
    assert fake.token_kinds == [] and _count(app) == 0


def test_yonsuite_suite_app_for_a_tenant_that_did_not_buy_it(app, box):
    with _yonsuite_suite(app, box, receivables=5, tenant_id="someoneelse"):
        (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "failing" and "租户未购买该应用" in report.detail


def test_fxiaoke_token_in_the_body_offset_paging_and_open_amounts(app, box):
    fake = fxiaoke.FakeFxiaoke()
    fake.seed(5, customers=15, plans=230)
    credentials = {
        "app_id": fxiaoke.APP_ID,
        "app_secret": fxiaoke.APP_SECRET,
        "permanent_code": fxiaoke.PERMANENT_CODE,
        "open_user_id": fxiaoke.OPEN_USER,
    }
    with fxiaoke.served(fake) as server:
        add_rest_source(app, box, "fx", "fxiaoke", {"url": server.url}, credentials)
        (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
        assert report.status == "ok", report.detail
        assert _count(app) == 230
        plans = fake.objects["PaymentPlanObj"]
        with app.factory() as s:
            rec = s.scalar(select(Receivable).where(Receivable.external_id == plans[0]["_id"]))
        expected = Decimal(plans[0]["plan_payment_amount"]) - Decimal(
            plans[0]["actual_payment_amount"]
        )
        assert rec.amount_open == expected
        assert rec.status == ("paid" if expected == 0 else "open")
        # Incremental: only plans changed since the cursor (and the overlap) are read again.
        plans[3]["actual_payment_amount"] = plans[3]["plan_payment_amount"]
        plans[3]["plan_payment_status"] = "completed"
        plans[3]["last_modified_time"] = 1_790_000_000_000
        fake.expire_tokens()
        (delta,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
        assert delta.status == "ok", delta.detail
        assert delta.entities["receivables"].records < 20
        from connectors.rest import RestConnector
        from mappings import load_mapping

        connector = RestConnector(load_mapping("fxiaoke"), {"url": server.url}, credentials)
        connector.post_note("receivables", plans[0]["_id"], "<p>已提醒 [dunlin r1]</p>")
        (record,) = fake.objects["ActiveRecordObj"]
        assert record["active_record_content"] == "已提醒 [dunlin r1]"
        assert record["related_object_data"][0]["id"] == plans[0]["_id"]
