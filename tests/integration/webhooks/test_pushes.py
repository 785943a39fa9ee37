"""Data-change pushes (Xbongbong, YonSuite): verified, then an incremental sync of what changed
runs (in this process, or on a real RQ worker), and a payment stops the invoice's reminders."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue
from sqlalchemy import select

from dunlin.crypto import SecretBox
from dunlin.db import transaction
from reminders.models import Reminder
from sync.models import Receivable, Source
from sync.run import sync_sources
from sync.sources import credentials_of, update_source
from sync.trigger import SYNC_QUEUE
from tests.fakes import xbongbong, yonsuite
from tests.integration.conftest import REDIS_URL
from tests.integration.helpers import planned_reminder
from tests.integration.sync.conftest import add_rest_source
from tests.integration.webhooks.conftest import seed
from webhooks import create_app

NO_SLEEP = lambda _s: None  # noqa: E731


@pytest.fixture
def xbb() -> Iterator[xbongbong.FakeXbongbong]:
    fake = xbongbong.FakeXbongbong()
    fake.seed(5, customers=5, payments=30)
    with xbongbong.served(fake) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def ys() -> Iterator[yonsuite.FakeYonSuite]:
    fake = yonsuite.FakeYonSuite()
    fake.seed(5, customers=5, receivables=30)
    with yonsuite.served(fake) as server:
        fake.url = server.url
        yield fake


def box_of(app) -> SecretBox:
    return SecretBox(app.settings.require_secret_key())


def add_xbongbong(app, fake, webhook_token: str | None = xbongbong.WEBHOOK_TOKEN) -> int:
    credentials = {"corpid": xbongbong.CORPID, "token": xbongbong.TOKEN}
    if webhook_token:
        credentials["webhook_token"] = webhook_token
    settings = {"url": fake.url, "customer_form_id": xbongbong.CUSTOMER_FORM}
    add_rest_source(app, box_of(app), "xbb", "xbongbong", settings, credentials)
    return synced_source(app)


def add_yonsuite(app, fake) -> int:
    settings = {"url": fake.url, "token_url": fake.url}
    credentials = {"app_key": yonsuite.APP_KEY, "app_secret": yonsuite.APP_SECRET}
    add_rest_source(app, box_of(app), "ys", "yonsuite", settings, credentials)
    return synced_source(app)


def synced_source(app) -> int:
    (report,) = sync_sources(app.factory, box_of(app), "acme", sleep=NO_SLEEP)
    assert report.status == "ok", report.detail
    with app.factory() as session:
        return session.scalar(select(Source.id))


def reminder_for(app, external_id: str) -> int:
    """A reminder due in an hour for the invoice: the push must stop it."""
    with transaction(app.factory) as session:
        invoice = session.scalar(select(Receivable).where(Receivable.external_id == external_id))
        soon = datetime.now(UTC) + timedelta(hours=1)
        return planned_reminder(session, invoice, "c@example.com", soon).id


def row(app, model, **where):
    with app.factory() as session:
        query = select(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return session.scalar(query)


def settle_in_source(fake: xbongbong.FakeXbongbong, item: dict) -> None:
    item["data"]["num_2"], item["data"]["num_3"] = item["data"]["num_1"], 0
    item["updateTime"] = int(datetime.now(UTC).timestamp())


def wait_for_syncs(web) -> None:
    web.extensions["dunlin_push_syncs"].inline.wait()


def test_xbongbong_payment_push_syncs_the_change_and_stops_reminders(app, web, client, xbb):
    source_id = add_xbongbong(app, xbb)
    item = xbb.payments[3]
    reminder_id = reminder_for(app, str(item["dataId"]))
    settle_in_source(xbb, item)
    body, headers = xbongbong.data_push(item, "payment")
    response = client.post(f"/hooks/push/{source_id}", data=body, headers=headers)
    assert response.status_code == 200, response.json
    assert response.json["status"] == "accepted" and response.json["entities"] == ["receivables"]
    wait_for_syncs(web)
    assert row(app, Receivable, external_id=str(item["dataId"])).status == "paid"
    assert row(app, Reminder, id=reminder_id).status == "cancelled"
    assert row(app, Source, id=source_id).status == "ok"


def test_xbongbong_push_signed_over_the_starters_field_order_is_accepted(app, web, client, xbb):
    """The raw body has other spacing and key order than the bytes the sender hashed."""
    source_id = add_xbongbong(app, xbb)
    canonical, headers = xbongbong.data_push(xbb.customers[0], "customer")
    reordered = json.dumps(dict(reversed(json.loads(canonical).items()))).encode()
    response = client.post(f"/hooks/push/{source_id}", data=reordered, headers=headers)
    assert response.status_code == 200 and response.json["entities"] == ["customers"]
    wait_for_syncs(web)


def test_xbongbong_pushes_that_must_be_refused(app, client, xbb, caplog):
    source_id = add_xbongbong(app, xbb)
    item = xbb.payments[0]
    url = f"/hooks/push/{source_id}"
    body, headers = xbongbong.data_push(item, "payment", token="someone-elses-token")
    assert client.post(url, data=body, headers=headers).json["error"]["code"] == "bad_signature"
    tampered, headers = xbongbong.data_push(item, "payment")
    tampered = tampered.replace(str(item["dataId"]).encode(), b"1")
    assert client.post(url, data=tampered, headers=headers).status_code == 401
    payload = {**json.loads(body), "corpid": "ding-other-company"}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    sign = hashlib.sha256(raw + xbongbong.WEBHOOK_TOKEN.encode()).hexdigest()
    other = client.post(url, data=raw, headers={"sign": sign, "Content-Type": "application/json"})
    assert other.status_code == 403 and other.json["error"]["code"] == "wrong_corpid"
    assert client.post("/hooks/push/999", data=body, headers=headers).status_code == 404
    odoo = seed(app).source_id  # an Odoo source: its mapping declares no pushes
    not_configured = client.post(f"/hooks/push/{odoo}", data=body, headers=headers)
    assert not_configured.json["error"]["code"] == "push_not_configured"
    assert "refused POST /hooks/push" in caplog.text


def test_an_unmapped_event_type_is_acknowledged_and_logged(app, client, xbb, caplog):
    caplog.set_level(logging.INFO, logger="dunlin.webhooks")
    source_id = add_xbongbong(app, xbb)
    body, headers = xbongbong.data_push(xbb.customers[0], "customerCommunicate")
    response = client.post(f"/hooks/push/{source_id}", data=body, headers=headers)
    assert response.status_code == 200 and response.json["status"] == "ignored"
    assert "'customerCommunicate' is not in the mapping's push.entities" in caplog.text


def test_pushes_wait_for_their_secret_and_a_mapping_that_takes_them(app, web, client, xbb):
    source_id = add_xbongbong(app, xbb, webhook_token=None)
    body, headers = xbongbong.data_push(xbb.payments[0], "payment")
    refused = client.post(f"/hooks/push/{source_id}", data=body, headers=headers)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "push_disabled"
    # the admin stores the token Xbongbong shows later (`dunlin sources update --secret`)
    with transaction(app.factory) as session:
        source = session.get(Source, source_id)
        update_source(session, box_of(app), source, {}, {"webhook_token": xbongbong.WEBHOOK_TOKEN})
    with app.factory() as session:
        stored = credentials_of(box_of(app), session.get(Source, source_id))
    assert stored["token"] == xbongbong.TOKEN  # merged, not replaced
    assert client.post(f"/hooks/push/{source_id}", data=body, headers=headers).status_code == 200
    wait_for_syncs(web)


def test_yonsuite_event_is_verified_decrypted_synced_and_accepted_once(app, web, client, ys):
    source_id = add_yonsuite(app, ys)
    invoice = ys.receivables[4]
    reminder_id = reminder_for(app, invoice["id"])
    invoice["oriWriteOffSum"] = invoice["oriSum"]
    body = yonsuite.event_push({"type": "RECEIPT_AUDIT", "eventId": "evt-1", "tenantId": "t1"})
    response = client.post(f"/hooks/push/{source_id}", json=body)
    assert response.status_code == 200 and response.get_data(as_text=True) == "success"
    wait_for_syncs(web)
    assert row(app, Receivable, external_id=invoice["id"]).status == "paid"
    assert row(app, Reminder, id=reminder_id).status == "cancelled"
    calls = ys.token_calls
    assert client.post(f"/hooks/push/{source_id}", json=body).status_code == 200  # replay
    wait_for_syncs(web)
    assert ys.token_calls == calls  # the replay started no sync


def test_yonsuite_suite_app_event_is_opened_with_the_suite_secret(app, web, client, ys):
    settings = {"url": ys.url, "token_url": ys.url, "app_type": "suite"}
    settings["tenant_id"] = yonsuite.TENANT_ID
    credentials = {"suite_key": yonsuite.SUITE_KEY, "suite_secret": yonsuite.SUITE_SECRET}
    add_rest_source(app, box_of(app), "ys", "yonsuite", settings, credentials)
    source_id = synced_source(app)
    invoice = ys.receivables[5]
    reminder_id = reminder_for(app, invoice["id"])
    invoice["oriWriteOffSum"] = invoice["oriSum"]
    event = {"type": "RECEIPT_AUDIT", "eventId": "evt-s1"}
    sealed = {"secret": yonsuite.SUITE_SECRET, "receiver": yonsuite.SUITE_KEY}
    response = client.post(f"/hooks/push/{source_id}", json=yonsuite.event_push(event, **sealed))
    assert response.status_code == 200 and response.get_data(as_text=True) == "success"
    wait_for_syncs(web)
    assert row(app, Reminder, id=reminder_id).status == "cancelled"
    # Sealed for another key (a self-built app's), it is not this source's event.
    other = yonsuite.event_push({**event, "eventId": "evt-s2"}, secret=yonsuite.SUITE_SECRET)
    refused = client.post(f"/hooks/push/{source_id}", json=other)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "wrong_app"


def test_yonsuite_events_that_must_be_refused(app, client, ys):
    source_id = add_yonsuite(app, ys)
    url = f"/hooks/push/{source_id}"
    event = {"type": "RECEIPT_AUDIT", "eventId": "evt-2"}
    stale = yonsuite.event_push(event, stamp_ms=int(datetime(2024, 5, 1).timestamp() * 1000))
    assert client.post(url, json=stale).json["error"]["code"] == "stale"
    forged = {**yonsuite.event_push(event), "signature": "bm9wZQ=="}
    assert client.post(url, json=forged).json["error"]["code"] == "bad_signature"
    missing = {k: v for k, v in yonsuite.event_push(event).items() if k != "encrypt"}
    assert client.post(url, json=missing).status_code == 422


def test_queue_mode_coalesces_a_burst_into_one_job_a_worker_runs(app, redis, worker, xbb):
    settings = app.settings.model_copy(update={"dispatch": "queue", "redis_url": REDIS_URL})
    client = create_app(settings).test_client()
    source_id = add_xbongbong(app, xbb)
    paid = xbb.payments[:5]
    outcomes = []
    for item in paid:
        settle_in_source(xbb, item)
        body, headers = xbongbong.data_push(item, "payment")
        response = client.post(f"/hooks/push/{source_id}", data=body, headers=headers)
        assert response.status_code == 200
        outcomes.append(response.json["sync"])
    assert outcomes == ["queued"] + ["coalesced"] * 4  # one job; later pushes join it
    assert Queue(SYNC_QUEUE, connection=redis).count == 1
    proc = worker("--queues", "sync", "--burst")
    assert proc.wait(timeout=120) == 0, proc.stdout.read().decode()[-2000:]
    for item in paid:
        assert row(app, Receivable, external_id=str(item["dataId"])).status == "paid"
    assert Queue(SYNC_QUEUE, connection=redis).count == 0
