"""Kingdee JDY through the generic REST connector: signed gateway calls, app-token, pages cut
to 100, an expired authorisation renewed once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from sync.models import Receivable
from sync.run import sync_sources
from tests.fakes.kingdee_jdy import CLIENT_ID, CLIENT_SECRET, INSTANCE, FakeKingdeeJdy, served
from tests.integration.sync.conftest import add_rest_source

NO_SLEEP = lambda _s: None  # noqa: E731


@pytest.fixture
def jdy() -> Iterator[FakeKingdeeJdy]:
    fake = FakeKingdeeJdy()
    fake.seed(4, customers=12, bills=230)
    with served(fake) as server:
        fake.url = server.url
        yield fake


def _add(app, box, fake, page_size=None, secret=CLIENT_SECRET):
    settings = {"url": fake.url, **({"page_size": page_size} if page_size else {})}
    credentials = {"client_id": CLIENT_ID, "client_secret": secret, "outer_instance_id": INSTANCE}
    add_rest_source(app, box, "jdy", "kingdee-jdy", settings, credentials)


def _receivables(app):
    with app.factory() as s:
        return s.scalar(select(func.count()).select_from(Receivable))


@pytest.mark.parametrize("page_size", [None, 500])
def test_full_sync_reads_every_bill_even_when_pages_are_cut_to_100(app, box, jdy, page_size):
    _add(app, box, jdy, page_size)  # 500 is clamped to the mapping's max_size of 100
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "ok", report.detail
    assert _receivables(app) == 230
    assert jdy.token_calls == 1  # the app-token is cached for the run


def test_an_expired_authorisation_is_renewed_once(app, box, jdy):
    _add(app, box, jdy)
    sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    jdy.revoke()
    jdy.bills[0]["unsettle_amount"] = "0"
    jdy.bills[0]["modify_time"] = str(1_790_000_000_000)
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "ok", report.detail
    with app.factory() as s:
        rec = s.scalar(select(Receivable).where(Receivable.external_id == jdy.bills[0]["id"]))
        assert rec.status == "paid"


def test_a_wrong_client_secret_fails_with_the_gateways_text(app, box, jdy):
    _add(app, box, jdy, secret="0" * 32)
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "failing" and "签名验证失败" in report.detail
