"""Issue 24 item 2 (invariant 9): a payment notice cannot be replayed under a new id, a late
or older notice never undoes a newer state, a reopen is explicit, and a negative or absurd
amount is refused — on every payment hook and on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from dunlin.bulk import COPY_THRESHOLD
from dunlin.models import Event, InboundDelivery
from reminders.core.policy import THANK_YOU_STEP
from reminders.models import Reminder
from reminders.planning.planner import plan
from sync.models import Receivable
from sync.store import upsert_receivables
from tests.integration.webhooks.conftest import Seeded, seed
from tests.integration.webhooks.test_payments import generic_headers, odoo_body
from webhooks.signatures import jiandaoyun_signature

HOOKS = ["odoo", "jiandaoyun", "generic"]
PAID_AT = "2024-05-02 08:00:00"  # Odoo's write_date: naive UTC
EARLIER = "2024-05-01 08:00:00"
LATER = "2024-05-03 08:00:00"


def send(
    client: Any,
    s: Seeded,
    hook: str,
    residual: float,
    state: str,
    version: str | None,
    *,
    event: str | None = None,
    reopen: bool | None = None,
) -> Any:
    """One notice about invoice 1234 through `hook`, signed as that hook's sender signs."""
    record = {**odoo_body("1234", residual, state), "id": 1234}  # the Odoo route adds `id`
    if version is None:
        del record["write_date"]
    else:
        record["write_date"] = version
    if hook == "odoo":
        return client.post(f"/hooks/odoo/{s.source_id}/{s.secret}", json=record)
    if hook == "jiandaoyun":
        body = json.dumps({"op": "data_update", "data": record}).encode()
        nonce, stamp = secrets.token_hex(4), str(int(time.time()))
        headers = {
            "X-JDY-Signature": jiandaoyun_signature(nonce, body, s.secret, stamp),
            "X-JDY-DeliverId": event or secrets.token_hex(8),
            "Content-Type": "application/json",
        }
        url = f"/hooks/jiandaoyun/{s.source_id}?nonce={nonce}&timestamp={stamp}"
        return client.post(url, data=body, headers=headers)
    envelope: dict[str, Any] = {"record": {k: v for k, v in record.items() if k != "write_date"}}
    if version is not None:
        envelope["occurred_at"] = version.replace(" ", "T") + "Z"
    if reopen is not None:
        envelope["reopen"] = reopen
    body = json.dumps(envelope).encode()
    headers = generic_headers(s.secret, body, event or secrets.token_hex(8))
    return client.post(f"/hooks/payments/{s.source_id}", data=body, headers=headers)


def invoice(app: Any, s: Seeded) -> tuple[str, Decimal]:
    with app.factory() as session:
        row = session.get(Receivable, s.receivable_id)
        return row.status, row.amount_open


def reminder_status(app: Any, s: Seeded) -> str:
    with app.factory() as session:
        return session.get(Reminder, s.reminder_id).status


def events(app: Any, kind: str) -> list[Event]:
    with app.factory() as session:
        return list(session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def dunning_due(app: Any, s: Seeded) -> int:
    """Reminders (not the thank-you) of the invoice that could still go out."""
    with app.factory() as session:
        query = select(func.count()).where(
            Reminder.target_receivable_id == s.receivable_id,
            Reminder.status.in_(["planned", "queued", "sending"]),
            Reminder.step != THANK_YOU_STEP,
        )
        return session.scalar(query)


# -- the generic hook's signature covers the delivery id -----------------------------------


def test_a_captured_notice_sent_again_under_a_new_event_id_is_refused(app, client):
    s = seed(app)
    body = json.dumps(
        {
            "record": {
                "id": 1234,
                "amount_residual": 280,
                "state": "posted",
                "payment_state": "partial",
            }
        }
    ).encode()
    url = f"/hooks/payments/{s.source_id}"
    captured = generic_headers(s.secret, body, "evt-1")
    first = client.post(url, data=body, headers=captured)
    assert first.status_code == 200, first.json
    assert invoice(app, s) == ("open", Decimal(280))

    replay = client.post(url, data=body, headers={**captured, "Dunlin-Event-Id": "evt-2"})

    assert replay.status_code == 401, replay.json
    assert replay.json["error"]["code"] == "bad_signature"
    assert "event id" in replay.json["error"]["message"]
    with app.factory() as session:
        kinds = session.scalars(select(Event.kind).where(Event.kind.like("payment.%"))).all()
    assert kinds == ["payment.partial"]  # applied once, the replay left nothing


def test_stripes_v1_signature_is_refused_because_it_does_not_cover_the_id(app, client):
    s = seed(app)
    body = json.dumps({"record": {"id": 1234, "amount_residual": 0}}).encode()
    at = int(time.time())
    v1 = hmac.new(s.secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {"Dunlin-Signature": f"t={at},v1={v1}", "Dunlin-Event-Id": "evt-1"}
    answer = client.post(f"/hooks/payments/{s.source_id}", data=body, headers=headers)
    assert answer.status_code == 401 and "v2" in answer.json["error"]["message"]
    assert invoice(app, s) == ("open", Decimal("1280"))


def test_an_event_id_that_could_shift_bytes_into_the_body_is_a_400(app, client):
    s = seed(app)
    body = b'{"record": {"id": 1234, "amount_residual": 0}}'
    headers = generic_headers(s.secret, body, "evt.1")
    answer = client.post(f"/hooks/payments/{s.source_id}", data=body, headers=headers)
    assert answer.status_code == 400 and answer.json["error"]["code"] == "bad_event_id"


def test_the_same_event_id_twice_is_a_duplicate_and_changes_nothing(app, client):
    """A sender retrying, or anyone re-signing under an id already used: answered 200
    duplicate, not applied — and the record of it is in SQL, not only in Redis."""
    s = seed(app)
    first = send(client, s, "generic", 280.0, "partial", PAID_AT, event="evt-7")
    assert first.status_code == 200 and first.json["status"] == "applied"

    again = send(client, s, "generic", 0.0, "paid", LATER, event="evt-7")

    assert again.status_code == 200 and again.json["status"] == "duplicate"
    assert invoice(app, s) == ("open", Decimal(280))
    assert reminder_status(app, s) == "planned"
    with app.factory() as session:
        ids = session.scalars(
            select(InboundDelivery.delivery_id).where(
                InboundDelivery.endpoint == f"payment:{s.source_id}"
            )
        ).all()
    assert ids == ["evt-7"]


def test_a_jiandaoyun_delivery_replayed_under_a_new_deliver_id_is_a_duplicate(app, client):
    """X-JDY-DeliverId is outside Jiandaoyun's signature: the same signed request under
    another value of it is the same delivery."""
    s = seed(app)
    record = {**odoo_body("1234", 280.0, "partial"), "id": 1234}
    body = json.dumps({"op": "data_update", "data": record}).encode()
    stamp = str(int(time.time()))
    signature = jiandaoyun_signature("n1", body, s.secret, stamp)
    url = f"/hooks/jiandaoyun/{s.source_id}?nonce=n1&timestamp={stamp}"
    headers = {"X-JDY-Signature": signature, "Content-Type": "application/json"}
    first = client.post(url, data=body, headers={**headers, "X-JDY-DeliverId": "d1"})
    assert first.status_code == 200 and first.json["status"] == "applied"
    replay = client.post(url, data=body, headers={**headers, "X-JDY-DeliverId": "d2"})
    assert replay.status_code == 200 and replay.json["status"] == "duplicate"
    assert len(events(app, "payment.partial")) == 1


# -- ordering: an older notice never undoes a newer state -----------------------------------


@pytest.mark.parametrize("hook", HOOKS)
def test_a_late_older_notice_after_paid_does_not_reopen_or_restart_reminders(app, client, hook):
    s = seed(app)
    paid = send(client, s, hook, 0.0, "paid", PAID_AT)
    assert paid.status_code == 200 and paid.json["receivable_status"] == "paid", paid.json
    assert reminder_status(app, s) == "cancelled"

    late = send(client, s, hook, 280.0, "partial", EARLIER)  # older, arriving after

    assert late.status_code == 200, late.json
    assert (late.json["status"], late.json["reason"]) == ("ignored", "stale")
    assert invoice(app, s) == ("paid", Decimal(0))
    assert reminder_status(app, s) == "cancelled"
    plan(app.factory, "acme", date.today())  # the planner finds nothing owed
    assert dunning_due(app, s) == 0
    (ignored,) = events(app, "payment.ignored")
    assert ignored.subject_id == s.receivable_id and ignored.data["reason"] == "stale"
    with app.factory() as session:
        version = session.get(Receivable, s.receivable_id).source_updated_at
    assert version == datetime(2024, 5, 2, 8, tzinfo=UTC)


@pytest.mark.parametrize("hook", HOOKS)
def test_a_newer_notice_reopening_a_paid_invoice_is_ignored_unless_it_says_reopen(
    app, client, hook
):
    s = seed(app)
    send(client, s, hook, 0.0, "paid", PAID_AT)

    silent = send(client, s, hook, 280.0, "partial", LATER)

    assert silent.status_code == 200
    assert (silent.json["status"], silent.json["reason"]) == ("ignored", "reopen_refused")
    assert invoice(app, s) == ("paid", Decimal(0))
    assert [e.data["reason"] for e in events(app, "payment.ignored")] == ["reopen_refused"]


def test_an_explicit_reopen_reopens(app, client):
    s = seed(app)
    send(client, s, "generic", 0.0, "paid", PAID_AT)
    assert invoice(app, s) == ("paid", Decimal(0))

    reopened = send(client, s, "generic", 280.0, "partial", LATER, reopen=True)

    assert reopened.status_code == 200 and reopened.json["status"] == "applied", reopened.json
    assert invoice(app, s) == ("open", Decimal(280))
    # an explicit reopen is still ordered: one older than the state held changes nothing
    stale = send(client, s, "generic", 900.0, "partial", EARLIER, reopen=True)
    assert stale.json["reason"] == "stale" and invoice(app, s) == ("open", Decimal(280))


def test_a_notice_without_a_version_may_settle_but_not_raise_the_open_amount(app, client):
    s = seed(app)
    down = send(client, s, "odoo", 280.0, "partial", None)
    assert down.json["status"] == "applied" and invoice(app, s) == ("open", Decimal(280))

    up = send(client, s, "odoo", 900.0, "partial", None)

    assert (up.json["status"], up.json["reason"]) == ("ignored", "unordered")
    assert invoice(app, s) == ("open", Decimal(280))


@pytest.mark.parametrize("size", [1, COPY_THRESHOLD + 10])  # executemany; COPY + INSERT…SELECT
def test_a_sync_page_older_than_a_webhooks_state_leaves_it_and_a_newer_one_wins(app, client, size):
    """The sync path keeps the same order: a page read before the payment arrived (older
    write_date) does not reopen it; the source's newer state, read later, does."""
    s = seed(app)
    send(client, s, "odoo", 0.0, "paid", PAID_AT)
    fields = ["external_id", "amount_open", "status", "source_updated_at"]

    def page(at: datetime) -> list[dict[str, Any]]:
        return [row(at, "1234")] + [row(at, f"other-{i}") for i in range(size - 1)]

    def row(at: datetime, external_id: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "org_id": s.org_id,
            "source_id": s.source_id,
            "customer_id": s.customer_id,
            "external_id": external_id,
            "number": "INV/0",
            "currency": "CNY",
            "amount_total": Decimal(1280),
            "amount_open": Decimal(1280),
            "due_on": date(2024, 5, 31),
            "status": "open",
            "source_updated_at": at,
            "do_not_remind": False,
            "created_at": now,
            "updated_at": now,
        }

    with app.factory() as session, session.begin():
        upsert_receivables(session, page(datetime(2024, 5, 1, 8, tzinfo=UTC)), fields)
    assert invoice(app, s) == ("paid", Decimal(0))
    assert reminder_status(app, s) == "cancelled"

    with app.factory() as session, session.begin():
        upsert_receivables(session, page(datetime(2024, 5, 3, 8, tzinfo=UTC)), fields)
    assert invoice(app, s) == ("open", Decimal(1280))


# -- amounts --------------------------------------------------------------------------------


@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize("residual", ["-5", "NaN", "Infinity", "1e300", "1000000000000000"])
def test_a_negative_or_absurd_open_amount_is_refused_and_changes_nothing(
    app, client, hook, residual
):
    s = seed(app)
    # json.dumps writes NaN and Infinity as bare words, which are not JSON (RFC 8259): the
    # body reader refuses them (400) before any mapping reads an amount (422 for the others)
    answer = send(client, s, hook, float(residual), "partial", PAID_AT)

    if residual in ("NaN", "Infinity"):
        assert answer.status_code == 400, answer.json
        assert answer.json["error"]["code"] == "bad_json"
    else:
        assert answer.status_code == 422, answer.json
        assert "amount_open" in answer.json["error"]["message"]
    assert invoice(app, s) == ("open", Decimal("1280"))
    assert reminder_status(app, s) == "planned"
    with app.factory() as session:
        assert session.scalar(select(func.count()).where(Event.kind.like("payment.%"))) == 0


def test_bad_occurred_at_and_reopen_are_refused(app, client):
    s = seed(app)
    url = f"/hooks/payments/{s.source_id}"
    record = {"id": 1234, "amount_residual": 0}
    for envelope in (
        {"record": record, "occurred_at": "yesterday"},
        {"record": record, "occurred_at": 1e300},
        {"record": record, "occurred_at": True},
        {"record": record, "reopen": "yes"},
    ):
        body = json.dumps(envelope).encode()
        answer = client.post(url, data=body, headers=generic_headers(s.secret, body, "e9"))
        assert answer.status_code == 422, (envelope, answer.json)
    assert invoice(app, s) == ("open", Decimal("1280"))
