"""`templates preview` lists what the message would: the planned row's invoices through the
dispatcher's guard, else the planner's decision for today (as `explain` states it)."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, update

from dunlin.orgs import get_org
from reminders.models import Reminder
from reminders.planning.planner import plan
from reminders.planning.preview import preview_context
from reminders.sending.dispatch import send_due
from reminders.sending.render import Renderer
from sync.importer import import_file
from sync.models import Customer, Receivable
from tests.integration.helpers import row, write_sheet
from tests.integration.test_cycle import Recorder

TODAY = date(2026, 12, 1)
TODAY_NOON = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


@pytest.fixture
def mixed(app, tmp_path):
    """One customer: an invoice 2 days overdue, one due in 2 days (inside the pre-due step's
    3-day lead) and one due on 12-24, which no message of today lists."""
    rows = [
        row("C7", "INV-A", "2026-11-29", "100"),
        row("C7", "INV-B", "2026-12-03", "50"),
        row("C7", "INV-C", "2026-12-24", "70"),
    ]
    import_file(app.factory, "acme", write_sheet(tmp_path / "a.csv", rows), "spreadsheet")
    return app


def _preview(app):
    with app.factory() as session:
        org = get_org(session, "acme")
        customer = session.scalar(select(Customer).where(Customer.external_id == "C7"))
        preview = preview_context(session, org, customer, TODAY_NOON)
        locale = Renderer().pick_locale(customer.language, org.language)
    return preview, locale


def _numbers(preview) -> list[str]:
    return [i["number"] for i in preview.context["invoices"]]


def test_without_a_plan_preview_lists_what_the_decision_would(mixed):
    preview, locale = _preview(mixed)
    assert _numbers(preview) == ["INV-A", "INV-B"]  # not INV-C, due 12-24
    assert "2 invoice(s)" in preview.basis and preview.template == "reminder"
    subject = Renderer().render("reminder", "zh_CN", preview.context).subject
    assert "1 笔款项已逾期、1 笔即将到期" in subject


def test_preview_renders_exactly_the_message_that_is_sent(mixed):
    plan(mixed.factory, "acme", TODAY)
    with mixed.factory() as session:
        ids = session.scalars(select(Reminder.receivable_ids)).one()
        numbers = session.scalars(
            select(Receivable.number).where(Receivable.id.in_(ids)).order_by(Receivable.due_on)
        ).all()
    preview, locale = _preview(mixed)
    assert preview.basis.startswith("planned reminder #") and _numbers(preview) == numbers
    # paid since it was planned: the guard drops it from the message, and from the preview
    with mixed.factory() as session, session.begin():
        session.execute(
            update(Receivable).where(Receivable.number == "INV-B").values(status="paid")
        )
    preview, locale = _preview(mixed)
    assert _numbers(preview) == ["INV-A"]
    expected = Renderer().render("reminder", locale, preview.context)
    recorder = Recorder()
    send_due(mixed.factory, "acme", TODAY_NOON, lambda _name: recorder)
    [sent] = recorder.sent
    assert (sent.subject, sent.text, sent.short) == (
        expected.subject,
        expected.text,
        expected.short,
    )


def test_nothing_due_today_says_so_and_lists_only_what_is_due(mixed):
    with mixed.factory() as session, session.begin():
        session.execute(update(Customer).values(do_not_remind=True))
    preview, _ = _preview(mixed)
    assert preview.basis.startswith("nothing would be sent today")
    assert _numbers(preview) == ["INV-A"]
