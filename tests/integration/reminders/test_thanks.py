"""Thank-you messages (the policy's `thank_you`): once per invoice paid after a reminder, in the
send windows, never for an invoice nobody was reminded about, never while it is unpaid again,
and never counted against the reminder caps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from dunlin.db import transaction
from dunlin.orgs import get_org
from reminders.ledger import cancel_for_settled
from reminders.models import Reminder
from reminders.planning.planner import plan
from reminders.planning.policy_store import save_version
from reminders.sending.dispatch import send_due
from sync.importer import import_file
from sync.models import Receivable
from tests.integration.helpers import row, write_sheet
from tests.integration.test_cycle import Recorder

TODAY = date(2026, 12, 1)  # a Tuesday
SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = """\
name: thankful
send_windows: {mon-fri: "09:00-18:00"}
caps: {per_day: 1, per_week: 2}
thank_you: {channels: [wecom, email]}
tracks:
  - name: all
    steps:
      - {name: nudge, offset_days: 1, channels: [email]}
      - {name: again, offset_days: 3, channels: [email]}
"""


@pytest.fixture
def reminded(app, tmp_path):
    """Two overdue invoices of one customer and one of another; each reminded on TODAY."""
    rows = [
        row("A1", "INV-A", "2026-11-25", "300"),
        row("A1", "INV-A2", "2026-11-25", "50", Currency="USD"),
        row("B1", "INV-B", "2026-11-25", "700"),
    ]
    import_file(app.factory, "acme", write_sheet(tmp_path / "a.csv", rows), "spreadsheet")
    with transaction(app.factory) as session:
        save_version(session, get_org(session, "acme").id, POLICY, "thankful.yaml")
    plan(app.factory, "acme", TODAY)
    send_due(app.factory, "acme", at(TODAY, 17), lambda _name: Recorder())
    return app


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI).astimezone(UTC)


def pay(app, number: str) -> None:
    with transaction(app.factory) as session:
        session.execute(
            update(Receivable)
            .where(Receivable.number == number)
            .values(status="paid", amount_open=Decimal(0))
        )
        cancel_for_settled(session, get_org(session, "acme").id)


def thanks(app) -> list[Reminder]:
    with app.factory() as session:
        query = select(Reminder).where(Reminder.step == "thank-you").order_by(Reminder.id)
        return list(session.scalars(query))


def test_a_paid_invoice_gets_one_thank_you_in_the_send_window(reminded):
    assert thanks(reminded) == []
    pay(reminded, "INV-B")
    tomorrow = TODAY + timedelta(days=1)
    report = plan(reminded.factory, "acme", tomorrow)
    assert report.thanks_planned == 1
    (row_,) = thanks(reminded)
    assert row_.channel == "email"  # no WeCom id: the next channel of thank_you
    assert row_.template == "thank_you" and row_.amount_open == Decimal("700.00")
    local = row_.scheduled_at.astimezone(SHANGHAI)
    assert local.date() == tomorrow and 9 <= local.hour < 18
    recorder = Recorder()
    send_due(reminded.factory, "acme", at(tomorrow, 18), lambda _name: recorder)
    (message,) = [m for m in recorder.sent if m.template == "thank_you"]
    assert "INV-B" in message.text and "700.00" in message.text
    assert "感谢" in message.subject or "thank you" in message.subject.lower()
    assert thanks(reminded)[0].status == "sent"
    # every later run finds it thanked
    assert plan(reminded.factory, "acme", tomorrow + timedelta(days=1)).thanks_planned == 0
    assert len(thanks(reminded)) == 1


def test_no_thanks_without_a_reminder_or_without_the_policy_section(app, tmp_path):
    rows = [row("C1", "INV-C", "2026-12-20", "100")]  # not due: never reminded
    import_file(app.factory, "acme", write_sheet(tmp_path / "c.csv", rows), "spreadsheet")
    with transaction(app.factory) as session:
        save_version(session, get_org(session, "acme").id, POLICY, "thankful.yaml")
    plan(app.factory, "acme", TODAY)
    pay(app, "INV-C")
    assert plan(app.factory, "acme", TODAY + timedelta(days=1)).thanks_planned == 0
    assert thanks(app) == []


def test_policy_without_thank_you_sends_none(reminded):
    with transaction(reminded.factory) as session:
        org_id = get_org(session, "acme").id
        quiet = POLICY.replace("thank_you: {channels: [wecom, email]}\n", "")
        save_version(session, org_id, quiet, "quiet.yaml")
    pay(reminded, "INV-B")
    assert plan(reminded.factory, "acme", TODAY + timedelta(days=1)).thanks_planned == 0


def test_an_invoice_reopened_before_the_send_is_not_thanked(reminded):
    pay(reminded, "INV-B")
    plan(reminded.factory, "acme", TODAY + timedelta(days=1))
    with transaction(reminded.factory) as session:  # the payment bounced
        session.execute(
            update(Receivable)
            .where(Receivable.number == "INV-B")
            .values(status="open", amount_open=Decimal("700"))
        )
    recorder = Recorder()
    send_due(reminded.factory, "acme", at(TODAY + timedelta(days=1), 18), lambda _n: recorder)
    assert [m for m in recorder.sent if m.template == "thank_you"] == []
    (row_,) = thanks(reminded)
    assert row_.status == "cancelled" and "no longer paid" in (row_.error or row_.reason)


def test_a_thank_you_does_not_count_against_the_reminder_caps(reminded):
    """A1 pays its CNY invoice on the day it was reminded; its USD invoice, held back by the
    daily cap, must still get its reminder tomorrow under a weekly cap of 2."""
    pay(reminded, "INV-A")
    assert plan(reminded.factory, "acme", TODAY).thanks_planned == 1
    report = plan(reminded.factory, "acme", TODAY + timedelta(days=1))
    assert report.skipped["frequency cap reached"] == 0
    with reminded.factory() as session:
        usd = session.scalars(
            select(Reminder).where(Reminder.currency == "USD", Reminder.step != "thank-you")
        ).all()
    assert [(r.step, r.planned_on) for r in usd] == [("again", TODAY + timedelta(days=1))]
