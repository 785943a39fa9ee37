"""History and tasks written back into the fake Odoo: chatter notes, activities, idempotency."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, update

from reminders.models import Reminder, Task
from reminders.planning.planner import plan
from reminders.sending.channels.outbox import OutboxChannel
from reminders.sending.dispatch import send_due
from sync.models import Writeback
from sync.run import sync_sources
from tests.integration.sync.conftest import add_odoo_source
from usecases.writeback import write_back

TODAY = date(2026, 12, 1)
NOON = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def _synced_and_sent(app, box, odoo, tmp_path):
    add_odoo_source(app, box, odoo)
    sync_sources(app.factory, box, "acme", sleep=lambda _s: None)
    plan(app.factory, "acme", TODAY)
    outbox = OutboxChannel(tmp_path / "outbox")
    send_due(app.factory, "acme", NOON, lambda _n: outbox)
    with app.factory() as s:
        sent = s.scalars(select(Reminder).where(Reminder.status == "sent")).all()
        tasks = s.scalars(select(Task).where(Task.status == "open")).all()
    assert sent, "the seeded invoices should produce reminders"
    return sent, tasks


def _notes(odoo):
    return [m for m in odoo.db.tables["mail.message"].values() if "[dunlin r" in m["body"]]


@pytest.mark.parametrize("odoo", [16, 17], indirect=True)
def test_sent_reminders_become_chatter_notes_once(app, box, odoo, tmp_path):
    sent, _tasks = _synced_and_sent(app, box, odoo, tmp_path)
    (report,) = write_back(app.factory, box, "acme")
    assert report.status == "ok", report.detail
    notes = _notes(odoo)
    assert report.notes == len(sent) == len(notes)
    reminder = sent[0]
    with app.factory() as s:
        target = s.scalar(
            select(Writeback.target_external_id).where(Writeback.local_ref == f"r{reminder.id}")
        )
    note = next(n for n in notes if f"[dunlin r{reminder.id}]" in n["body"])
    assert note["model"] == "account.move" and str(note["res_id"]) == target
    assert note["body"].startswith("<p>")  # stored as HTML on 16 and (body_is_html) on 17
    assert note["subtype_xmlid"] == "mail.mt_note"
    assert reminder.recipient not in note["body"]  # masked for the salesperson
    (again,) = write_back(app.factory, box, "acme")
    assert again.notes == 0 and len(_notes(odoo)) == len(sent)


def test_a_crash_after_the_call_does_not_write_twice(app, box, odoo, tmp_path):
    sent, _ = _synced_and_sent(app, box, odoo, tmp_path)
    write_back(app.factory, box, "acme")
    with app.factory.begin() as s:  # simulate a crash: the answer was never recorded
        s.execute(update(Writeback).values(status="pending", external_id=None))
    (report,) = write_back(app.factory, box, "acme")
    assert len(_notes(odoo)) == len(sent)
    with app.factory() as s:
        rows = s.scalars(select(Writeback).where(Writeback.kind == "note")).all()
    assert all(r.status == "done" and r.external_id for r in rows)
    assert report.status == "ok"


def test_tasks_become_activities_for_the_salesperson_and_close(app, box, odoo, tmp_path):
    _sent, tasks = _synced_and_sent(app, box, odoo, tmp_path)
    if not tasks:
        pytest.skip("the default policy made no task for this seed")
    (report,) = write_back(app.factory, box, "acme")
    activities = list(odoo.db.tables["mail.activity"].values())
    assert report.tasks_created == len(tasks) == len(activities)
    activity = activities[0]
    move = odoo.db.tables["account.move"][activity["res_id"]]
    partner = odoo.db.tables["res.partner"][move["partner_id"]]
    expected = move["invoice_user_id"] or partner["user_id"] or None
    assert activity["res_model"] == "account.move"
    assert activity["user_id"] == (expected or 6)  # else the API user (no fallback configured)
    assert activity["activity_type_id"] == 4
    with app.factory.begin() as s:
        s.execute(update(Task).values(status="done"))
    (closing,) = write_back(app.factory, box, "acme")
    assert closing.tasks_closed == len(tasks)
    assert odoo.db.tables["mail.activity"] == {}


def test_an_outage_leaves_write_back_pending_for_the_next_run(app, box, odoo, tmp_path):
    sent, _ = _synced_and_sent(app, box, odoo, tmp_path)
    odoo.app.inject("http500", count=1000)
    (report,) = write_back(app.factory, box, "acme")
    assert report.status == "failing" and report.notes == 0
    odoo.app.faults.clear()
    (report,) = write_back(app.factory, box, "acme")
    assert report.notes == len(sent) == len(_notes(odoo))


@pytest.mark.parametrize("odoo", [17], indirect=True)
def test_promises_and_disputes_become_notes_on_the_invoice_once(app, box, odoo, tmp_path):
    from datetime import timedelta

    from reminders import customer_actions as actions
    from sync.models import Customer, Receivable

    _synced_and_sent(app, box, odoo, tmp_path)
    with app.factory() as s, s.begin():
        invoice = s.scalar(select(Receivable).where(Receivable.status == "open").limit(1))
        customer = s.get(Customer, invoice.customer_id)
        actor = actions.Actor(customer, 0)
        actions.promise(s, actor, TODAY, TODAY + timedelta(days=5), 60)
        actions.dispute(s, actor, TODAY, invoice.id, "wrong quantity 数量不对")
    write_back(app.factory, box, "acme")
    bodies = [
        m["body"] for m in odoo.db.tables["mail.message"].values() if "[dunlin e" in m["body"]
    ]
    assert len(bodies) == 2 and any("数量不对" in b for b in bodies)
    (again,) = write_back(app.factory, box, "acme")
    assert again.notes == 0
