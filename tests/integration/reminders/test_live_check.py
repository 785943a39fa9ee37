"""A policy's live balance check: the source is asked right before sending (invariant 2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from dunlin.db import transaction
from dunlin.orgs import get_org
from reminders.models import Reminder
from reminders.planning.policy_store import save_version
from reminders.sending.channels.base import Outcome
from reminders.sending.dispatch import send_due
from reminders.sending.live import live_balances
from sync.models import Receivable, Source, SyncCursor
from sync.run import sync_sources
from tests.integration.helpers import planned_reminder
from tests.integration.reminders.test_dispatch import Answering
from tests.integration.sync.conftest import add_odoo_source, box, odoo  # noqa: F401

NO_SLEEP = lambda _s: None  # noqa: E731

POLICY = """\
name: live
tracks:
  - name: all
    steps:
      - {name: d1, offset_days: 1, channels: [email]}
"""


def set_policy(app, live_check: str | None) -> None:
    text = POLICY + (f"live_check: {live_check}\n" if live_check is not None else "")
    with transaction(app.factory) as session:
        save_version(session, get_org(session, "acme").id, text, "live.yaml")


def open_invoice_with_reminder(app, box, odoo) -> tuple[Receivable, int]:  # noqa: F811
    """Synced from the fake Odoo; one open invoice gets a reminder that is due now."""
    add_odoo_source(app, box, odoo)
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "ok", report.detail
    with transaction(app.factory) as session:
        invoice = session.scalars(
            select(Receivable)
            .where(Receivable.status == "open", Receivable.amount_open > 10)
            .order_by(Receivable.id)
        ).first()
        reminder = planned_reminder(
            session, invoice, "ar@customer.example", datetime.now(UTC) - timedelta(minutes=1)
        )
        session.expunge(invoice)
        return invoice, reminder.id


def send(app, box) -> tuple[Answering, dict]:  # noqa: F811
    email = Answering("email", Outcome.SENT)
    report = send_due(
        app.factory,
        "acme",
        datetime.now(UTC),
        {"email": email}.__getitem__,
        live=lambda org: live_balances(app.factory, box, org),
    )
    return email, report.counts


def stored_cursors(app) -> dict[str, dict]:
    with app.factory() as session:
        return {c.entity: dict(c.position) for c in session.scalars(select(SyncCursor))}


def reminder(app, reminder_id: int) -> Reminder:
    with app.factory() as session:
        return session.get(Reminder, reminder_id)


def test_an_invoice_paid_since_the_last_sync_is_not_reminded(app, box, odoo):  # noqa: F811
    set_policy(app, "{}")
    invoice, reminder_id = open_invoice_with_reminder(app, box, odoo)
    paid = {"payment_state": "paid", "amount_residual": 0.0, "amount_residual_signed": 0.0}
    odoo.db.update("account.move", [int(invoice.external_id)], paid)
    cursors = stored_cursors(app)
    assert cursors["receivables"]  # the sync left a position to keep
    email, counts = send(app, box)
    assert email.sent == []
    assert reminder(app, reminder_id).status == "cancelled"
    with app.factory() as session:
        assert session.get(Receivable, invoice.id).status == "paid"
    # the cursors did not move: the next sync still reads everything changed since the last one
    assert stored_cursors(app) == cursors
    with app.factory() as session:
        assert session.scalar(select(Source.status)) == "ok"


def test_a_partial_payment_is_reminded_with_the_amount_still_owed(app, box, odoo):  # noqa: F811
    set_policy(app, "{}")
    invoice, reminder_id = open_invoice_with_reminder(app, box, odoo)
    left = (invoice.amount_open / 2).quantize(Decimal("0.01"))
    partial = {"payment_state": "partial", "amount_residual": float(left)}
    odoo.db.update("account.move", [int(invoice.external_id)], partial)
    email, _ = send(app, box)
    assert reminder(app, reminder_id).status == "sent"
    (message,) = email.sent
    with app.factory() as session:
        assert session.get(Receivable, invoice.id).amount_open == left
    assert f"{left:,.2f}" in message.text


def test_an_invoice_deleted_in_the_source_is_not_reminded(app, box, odoo):  # noqa: F811
    set_policy(app, "{}")
    invoice, reminder_id = open_invoice_with_reminder(app, box, odoo)
    odoo.db.delete("account.move", [int(invoice.external_id)])
    email, _ = send(app, box)
    assert email.sent == [] and reminder(app, reminder_id).status == "cancelled"
    with app.factory() as session:
        assert session.get(Receivable, invoice.id).status == "cancelled"


@pytest.mark.parametrize(
    ("setting", "expected"), [("{}", "planned"), ("{when_unreachable: send}", "sent")]
)
def test_an_unreachable_source_holds_or_trusts_the_last_sync(app, box, odoo, setting, expected):  # noqa: F811
    set_policy(app, setting)
    _invoice, reminder_id = open_invoice_with_reminder(app, box, odoo)
    with transaction(app.factory) as session:
        source = session.scalar(select(Source))
        source.settings = {**source.settings, "url": "http://127.0.0.1:9", "timeout_seconds": 2}
    before = datetime.now(UTC)
    email, counts = send(app, box)
    row = reminder(app, reminder_id)
    assert row.status == expected
    if expected == "planned":
        assert email.sent == [] and counts["held"] == 1
        assert row.error.startswith("live balance check: source unreachable")
        assert row.scheduled_at.replace(tzinfo=UTC) >= before + timedelta(minutes=14)
    else:
        assert len(email.sent) == 1


def test_without_live_check_the_source_is_not_asked(app, box, odoo):  # noqa: F811
    set_policy(app, None)
    invoice, reminder_id = open_invoice_with_reminder(app, box, odoo)
    paid = {"payment_state": "paid", "amount_residual": 0.0}
    odoo.db.update("account.move", [int(invoice.external_id)], paid)
    calls = len(odoo.app.requests)
    email, _ = send(app, box)
    assert len(email.sent) == 1 and len(odoo.app.requests) == calls
