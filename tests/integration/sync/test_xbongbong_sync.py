"""Xbongbong through the generic REST connector and the shipped mapping, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from sync.models import Customer, Receivable, SyncCursor
from sync.run import sync_sources
from tests.fakes.xbongbong import CORPID, CUSTOMER_FORM, TOKEN, FakeXbongbong, served
from tests.integration.sync.conftest import add_rest_source

NO_SLEEP = lambda _s: None  # noqa: E731


@pytest.fixture
def xbb() -> Iterator[FakeXbongbong]:
    fake = FakeXbongbong()
    fake.seed(3, customers=20, payments=250)  # three pages of 100
    with served(fake) as server:
        fake.url = server.url
        yield fake


def _add(app, box, fake, token=TOKEN):
    settings = {"url": fake.url, "customer_form_id": CUSTOMER_FORM}
    add_rest_source(app, box, "xbb", "xbongbong", settings, {"corpid": CORPID, "token": token})


def test_sync_signs_every_call_and_pages_to_the_last_page(app, box, xbb):
    _add(app, box, xbb)
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "ok", report.detail
    assert report.entities["receivables"].pages == 3
    with app.factory() as s:
        assert s.scalar(select(func.count()).select_from(Receivable)) == 250
        assert s.scalar(select(func.count()).select_from(Customer)) == 20
        first = xbb.payments[0]
        rec = s.scalar(select(Receivable).where(Receivable.external_id == str(first["dataId"])))
        shanghai = datetime.fromtimestamp(first["data"]["date_1"], ZoneInfo("Asia/Shanghai"))
        assert rec.number == first["data"]["serialNo"]
        assert rec.due_on == shanghai.date()  # epoch seconds read in the source's zone


def test_incremental_sync_uses_update_time_in_seconds(app, box, xbb):
    _add(app, box, xbb)
    sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    changed = xbb.payments[7]
    changed["data"]["num_3"] = 0
    changed["updateTime"] = 1_800_000_000
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.entities["receivables"].records < 30  # the change + the overlap window
    with app.factory() as s:
        rec = s.scalar(select(Receivable).where(Receivable.external_id == str(changed["dataId"])))
        assert rec.status == "paid"


def test_a_revoked_token_fails_with_the_systems_own_text_and_keeps_cursors(app, box, xbb):
    _add(app, box, xbb)
    sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    with app.factory() as s:
        before = {c.entity: dict(c.position) for c in s.scalars(select(SyncCursor))}
    xbb.token = "rotated-by-the-admin"
    waits = []
    (report,) = sync_sources(app.factory, box, "acme", sleep=waits.append)
    assert report.status == "failing" and "签名错误" in report.detail
    assert waits == []  # an auth failure is not retried
    with app.factory() as s:
        assert {c.entity: dict(c.position) for c in s.scalars(select(SyncCursor))} == before


def test_follow_up_note_goes_to_communicate_add(xbb):
    from connectors.rest import RestConnector
    from mappings import load_mapping

    connector = RestConnector(
        load_mapping("xbongbong"),
        {"url": xbb.url, "customer_form_id": CUSTOMER_FORM},
        {"corpid": CORPID, "token": TOKEN},
    )
    note_id = connector.post_note("receivables", "10050", "<p>已发送短信提醒 [dunlin r9]</p>")
    (item,) = xbb.communicates
    assert str(item["dataId"]) == note_id
    assert item["data"]["text_6"] == "已发送短信提醒 [dunlin r9]"
