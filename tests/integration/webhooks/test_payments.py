"""Payment webhooks stop reminders in the same request; bad ones are refused with a reason."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select

from dunlin import db
from dunlin.models import Event, Org
from reminders.core.policy import THANK_YOU_STEP
from reminders.ledger import claim
from reminders.models import Reminder
from reminders.sending.channels.base import Outcome, SendResult
from reminders.sending.dispatch import send_due
from sync.models import Receivable
from tests.integration.webhooks.conftest import seed
from usecases.payments import PaymentNotice, apply_payment
from webhooks.signatures import jiandaoyun_signature


def odoo_body(external_id: str, residual: float, state: str) -> dict:
    return {
        "_action": "Dunlin: invoice paid(#42)",
        "_id": int(external_id),
        "_model": "account.move",
        "amount_residual": residual,
        "amount_total": 1280.0,
        "currency_id": 7,
        "invoice_date_due": "2024-05-31",
        "name": "INV/2024/00012",
        "partner_id": 56,
        "payment_state": state,
        "state": "posted",
        "write_date": "2024-05-01 08:00:00",
    }


def status_of(app, model, row_id):
    with app.factory() as session:
        return session.get(model, row_id)


def test_odoo_paid_webhook_cancels_reminders_within_the_request(app, client, caplog):
    s = seed(app)
    response = client.post(
        f"/hooks/odoo/{s.source_id}/{s.secret}", json=odoo_body("1234", 0.0, "paid")
    )
    assert response.status_code == 200, response.json
    assert (
        response.json["receivable_status"] == "paid" and response.json["reminders_cancelled"] == 1
    )
    assert status_of(app, Receivable, s.receivable_id).status == "paid"
    assert status_of(app, Receivable, s.receivable_id).amount_open == 0
    assert status_of(app, Reminder, s.reminder_id).status == "cancelled"
    # the same body again is answered and applied once
    again = client.post(
        f"/hooks/odoo/{s.source_id}/{s.secret}", json=odoo_body("1234", 0.0, "paid")
    )
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    with app.factory() as session:
        kinds = session.scalars(select(Event.kind).where(Event.kind.like("payment.%"))).all()
    assert kinds == ["payment.received"]


def test_a_payment_after_the_workers_connection_sat_idle_is_applied(app, client, monkeypatch):
    """Real payment traffic is sparse: the pooled connection has sat idle, so the pool tests
    it before use. That test must not leave a transaction open, or the payment's autocommit
    statement cannot run and Odoo, which never resends, gets a 500."""
    s = seed(app)
    assert client.get("/healthz").status_code == 200  # the connection is pooled, then idle
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # everything counts as idle

    response = client.post(
        f"/hooks/odoo/{s.source_id}/{s.secret}", json=odoo_body("1234", 0.0, "paid")
    )

    assert response.status_code == 200, response.json
    assert status_of(app, Reminder, s.reminder_id).status == "cancelled"


def test_partial_payment_updates_the_open_amount_and_keeps_reminding(app, client):
    s = seed(app)
    response = client.post(
        f"/hooks/odoo/{s.source_id}/{s.secret}", json=odoo_body("1234", 280.0, "partial")
    )
    assert response.status_code == 200 and response.json["receivable_status"] == "open"
    invoice = status_of(app, Receivable, s.receivable_id)
    assert invoice.amount_open == Decimal("280") and invoice.status == "open"
    assert status_of(app, Reminder, s.reminder_id).status == "planned"


def audit_trail(app, since_id: int = 0) -> list[tuple]:
    with app.factory() as session:
        events = session.scalars(select(Event).where(Event.id > since_id).order_by(Event.id))
        # amounts in summaries carry the store's scale (1280.00 / 1280.0000): compared as numbers
        return [
            (e.kind, e.actor, e.subject_type, e.subject_id, _numbers(e.summary), e.data)
            for e in events
        ]


def _numbers(summary: str) -> str:
    return " ".join(
        format(Decimal(word).normalize(), "f") if word[:1].isdigit() else word
        for word in summary.split()
    )


def test_the_audit_trail_is_the_same_on_every_store(app, client):
    """PostgreSQL writes mark, cancel and events in one statement, SQLite in three: the rows
    they leave must not differ (their order inside one transaction is not defined)."""
    s = seed(app)
    with app.factory() as session:
        start = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0
    url = f"/hooks/odoo/{s.source_id}/{s.secret}"
    # the partial payment came first in Odoo too: its write_date is the older one
    client.post(url, json={**odoo_body("1234", 280.0, "partial"), "write_date": "2024-04-30"})
    client.post(url, json=odoo_body("1234", 0.0, "paid"))
    # and one that arrives late: older than the paid state, it is recorded and changes nothing
    client.post(url, json={**odoo_body("1234", 280.0, "partial"), "write_date": "2024-04-29"})
    rid, mid = s.receivable_id, s.reminder_id
    expected = [
        (
            "payment.partial",
            "webhook:odoo",
            "receivable",
            rid,
            "INV/0: open 1280 → open 280",
            {"status": "open", "amount_open": "280.0", "cancelled": 0},
        ),
        ("reminder.cancelled", "dispatcher", "reminder", mid, "receivable no longer open", {}),
        (
            "payment.received",
            "webhook:odoo",
            "receivable",
            rid,
            "INV/0: open 280 → paid 0",
            {"status": "paid", "amount_open": "0.0", "cancelled": 1},
        ),
        (
            "payment.ignored",
            "webhook:odoo",
            "receivable",
            rid,
            "INV/0: notice ignored (stale), kept paid 0",
            {"reason": "stale", "status": "open", "amount_open": "280.0"},
        ),
    ]
    assert sorted(audit_trail(app, start), key=repr) == sorted(expected, key=repr)


def test_wrong_secret_and_other_orgs_source_are_refused_and_logged(app, client, caplog):
    s = seed(app)
    other = seed(app, "other", "999", n=1)
    bad = client.post(
        f"/hooks/odoo/{s.source_id}/{'x' * len(s.secret)}", json=odoo_body("1234", 0, "paid")
    )
    assert bad.status_code == 401 and bad.json["error"]["code"] == "bad_secret"
    # org B's secret does not open org A's source
    crossed = client.post(
        f"/hooks/odoo/{s.source_id}/{other.secret}", json=odoo_body("1234", 0, "paid")
    )
    assert crossed.status_code == 401
    assert status_of(app, Reminder, s.reminder_id).status == "planned"
    assert any("refused POST" in r.getMessage() for r in caplog.records)
    assert not any(s.secret in r.getMessage() for r in caplog.records)


def test_unknown_invoice_is_accepted_for_the_next_sync(app, client):
    s = seed(app)
    with app.factory() as session:
        start = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0
    url = f"/hooks/odoo/{s.source_id}/{s.secret}"
    response = client.post(url, json=odoo_body("55555", 0, "paid"))
    assert response.status_code == 202 and response.json["status"] == "unknown_invoice"
    again = client.post(url, json=odoo_body("55555", 0, "paid"))
    assert again.json["status"] == "duplicate"
    # one event, the same on every store, and nothing else touched
    with app.factory() as session:
        events = session.scalars(select(Event).where(Event.id > start)).all()
    assert [(e.kind, e.actor, e.subject_type, e.subject_id, e.summary, e.data) for e in events] == [
        (
            "payment.unknown_invoice",
            "webhook:odoo",
            None,
            None,
            "payment notice for 55555, not synced yet",
            {"external_id": "55555", "source_id": s.source_id},
        )
    ]
    assert status_of(app, Reminder, s.reminder_id).status == "planned"


def test_malformed_payload_names_the_problem(app, client):
    s = seed(app)
    response = client.post(f"/hooks/odoo/{s.source_id}/{s.secret}", json={"name": "x"})
    assert response.status_code == 422 and "_id" in response.json["error"]["message"]
    notjson = client.post(
        f"/hooks/odoo/{s.source_id}/{s.secret}", data=b"{", content_type="application/json"
    )
    assert notjson.status_code == 400


def generic_headers(secret: str, body: bytes, event_id: str, at: int | None = None) -> dict:
    """How a sender signs: v2 = HMAC-SHA256(secret, "<t>.<event id>.<body>")."""
    at = at or int(time.time())
    signed = f"{at}.{event_id}.".encode() + body
    mac = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return {
        "Dunlin-Signature": f"t={at},v2={mac}",
        "Dunlin-Event-Id": event_id,
        "Content-Type": "application/json",
    }


def test_generic_webhook_rejects_tampered_expired_and_replayed(app, client):
    s = seed(app)
    body = json.dumps(
        {"record": {"id": 1234, "amount_residual": 0, "state": "posted", "payment_state": "paid"}}
    ).encode()
    url = f"/hooks/payments/{s.source_id}"
    tampered = client.post(
        url, data=body.replace(b"0", b"1", 1), headers=generic_headers(s.secret, body, "e1")
    )
    assert tampered.status_code == 401 and "does not match" in tampered.json["error"]["message"]
    expired = client.post(
        url, data=body, headers=generic_headers(s.secret, body, "e1", int(time.time()) - 3600)
    )
    assert expired.status_code == 401 and "timestamp" in expired.json["error"]["message"]
    assert status_of(app, Reminder, s.reminder_id).status == "planned"
    ok = client.post(url, data=body, headers=generic_headers(s.secret, body, "e1"))
    assert ok.status_code == 200 and ok.json["reminders_cancelled"] == 1
    replay = client.post(url, data=body, headers=generic_headers(s.secret, body, "e1"))
    assert replay.status_code == 200 and replay.json["status"] == "duplicate"


def test_jiandaoyun_signature_is_checked(app, client):
    s = seed(app)
    body = json.dumps(
        {
            "op": "data_update",
            "data": {"id": 1234, "amount_residual": 0, "state": "posted", "payment_state": "paid"},
        }
    ).encode()
    stamp = str(int(time.time()))
    sig = jiandaoyun_signature("n1", body, s.secret, stamp)
    url = f"/hooks/jiandaoyun/{s.source_id}?nonce=n1&timestamp={stamp}"
    bad = client.post(
        url, data=body, headers={"X-JDY-Signature": "0" * 40, "X-JDY-DeliverId": "d1"}
    )
    assert bad.status_code == 401
    ok = client.post(
        url,
        data=body,
        headers={
            "X-JDY-Signature": sig,
            "X-JDY-DeliverId": "d1",
            "Content-Type": "application/json",
        },
    )
    assert ok.status_code == 200, ok.json
    assert status_of(app, Reminder, s.reminder_id).status == "cancelled"


class SlowChannel:
    rate_per_second = None
    recipient_limits = ()

    def __init__(self):
        self.sent = []

    def send(self, message):
        self.sent.append(message.recipient)
        return SendResult(Outcome.SENT, provider_message_id="m1")

    def close(self):
        pass


def test_payment_racing_a_worker_about_to_send_wins(app):
    """The payment transaction holds its lock; a worker that starts claiming meanwhile waits,
    then finds the reminder cancelled, and sends nothing."""
    s = seed(app)
    channel = SlowChannel()
    worker_done = threading.Event()
    with app.factory() as session, session.begin():
        result = apply_payment(
            session.connection(), s.org_id, s.source_id, PaymentNotice("1234", None, "paid"), "test"
        )
        assert result.cancelled == 1

        def worker():
            with app.factory() as db:
                slug = db.get(Org, s.org_id).slug
            send_due(app.factory, slug, datetime.now(UTC), lambda _n: channel)
            worker_done.set()

        thread = threading.Thread(target=worker)
        thread.start()
        time.sleep(0.5)  # the worker is now blocked on our lock (or has not claimed yet)
    thread.join(timeout=30)
    assert worker_done.is_set()
    assert channel.sent == []
    assert status_of(app, Reminder, s.reminder_id).status == "cancelled"


def test_a_claim_that_wins_the_race_is_reported_in_flight_and_not_cancelled(app, client):
    """A worker's claim is still open when the payment arrives: the payment waits for it, then
    sees the row as the worker left it (sending: the message is already leaving) and says so."""
    s = seed(app)
    claimed = threading.Event()

    def worker_claims_and_dawdles():
        with app.factory() as session, session.begin():
            rows = claim(session, s.org_id, [s.reminder_id], datetime.now(UTC))
            assert [r.id for r in rows] == [s.reminder_id]
            claimed.set()
            time.sleep(0.5)  # the payment arrives now and must wait for this commit

    thread = threading.Thread(target=worker_claims_and_dawdles)
    thread.start()
    assert claimed.wait(10)
    answer = client.post(f"/hooks/odoo/{s.source_id}/{s.secret}", json=odoo_body("1234", 0, "paid"))
    thread.join(10)

    assert answer.status_code == 200, answer.json
    assert answer.json["reminders_in_flight"] == 1
    assert answer.json["reminders_cancelled"] == 0
    assert status_of(app, Reminder, s.reminder_id).status == "sending"
    assert status_of(app, Receivable, s.receivable_id).status == "paid"


def test_a_later_payment_notice_leaves_a_planned_thank_you_alone(app, client):
    """Settling cancels what is still due, never the thank-you for a settled invoice: a second
    notice (Odoo sends one for any later edit) must not stop it, on any store."""
    s = seed(app)
    url = f"/hooks/odoo/{s.source_id}/{s.secret}"
    client.post(url, json=odoo_body("1234", 0.0, "paid"))
    with app.factory() as session, session.begin():
        thanks = Reminder(
            org_id=s.org_id,
            customer_id=s.customer_id,
            target_receivable_id=s.receivable_id,
            receivable_ids=[s.receivable_id],
            idempotency_key=f"r{s.receivable_id}:{THANK_YOU_STEP}:email",
            policy="default",
            track="default",
            step=THANK_YOU_STEP,
            channel="email",
            template="thanks",
            recipient="c0@example.com",
            currency="CNY",
            amount_open=Decimal(0),
            status="planned",
            scheduled_at=datetime.now(UTC),
        )
        session.add(thanks)
        session.flush()
        thanks_id = thanks.id
    again = client.post(url, json={**odoo_body("1234", 0.0, "paid"), "write_date": "2024-05-03"})

    assert again.status_code == 200 and again.json["reminders_cancelled"] == 0
    assert status_of(app, Reminder, thanks_id).status == "planned"


def test_a_replayed_delivery_changes_nothing(app):
    s = seed(app)
    notice = PaymentNotice("1234", Decimal(100), None)
    once = ("payment:test", "delivery-1")
    with app.engine.begin() as conn:
        first = apply_payment(conn, s.org_id, s.source_id, notice, "test", once)
    with app.engine.begin() as conn:
        again = apply_payment(
            conn, s.org_id, s.source_id, PaymentNotice("1234", 0, None), "t", once
        )

    assert (first.found, first.duplicate, first.amount_open) == (True, False, Decimal(100))
    assert (again.found, again.duplicate) == (False, True)
    assert status_of(app, Receivable, s.receivable_id).amount_open == Decimal(100)
    assert status_of(app, Reminder, s.reminder_id).status == "planned"
