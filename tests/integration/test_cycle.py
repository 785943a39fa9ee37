"""Plan and send on both backends: idempotent planning, the guard, leases, failures, tenancy."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from dunlin.orgs import get_org
from reminders.models import Reminder, Task
from reminders.planning.planner import plan
from reminders.sending.channels.base import Outcome, SendResult
from reminders.sending.channels.outbox import OutboxChannel
from reminders.sending.dispatch import send_due, send_one
from reminders.sending.render import Renderer
from sync.importer import import_file
from sync.models import Customer, Receivable
from tests.integration.helpers import row, write_sheet

TODAY = date(2026, 12, 1)
TODAY_NOON = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, inside the window


@pytest.fixture
def loaded(app, tmp_path):
    rows = [
        row("C1", "INV-1", "2026-11-21", "100"),  # day +10 → overdue-10, paces the group
        row("C1", "INV-2", "2026-11-28", "50"),  # day +3, listed in the same message
        row(
            "C2", "INV-3", "2026-10-01", "70", Mobile="13812345678", Email=""
        ),  # +61 → final, sms + task
        row("C3", "INV-4", "2026-12-20", "30"),  # not due yet → nothing
    ]
    import_file(app.factory, "acme", write_sheet(tmp_path / "a.csv", rows), "spreadsheet")
    return app


def _reminders(app, org="acme"):
    with app.factory() as s:
        org_id = get_org(s, org).id
        return s.scalars(
            select(Reminder).where(Reminder.org_id == org_id).order_by(Reminder.id)
        ).all()


class Recorder:
    """A channel that records what it was asked to send and answers as told."""

    name = "recorder"

    def __init__(self, outcome=Outcome.SENT, raises=False):
        self.sent, self.outcome, self.raises = [], outcome, raises

    def send(self, message):
        if self.raises:
            raise ConnectionResetError("peer went away mid-send")
        self.sent.append(message)
        return SendResult(
            self.outcome, "prov-1" if self.outcome is Outcome.SENT else None, "detail"
        )

    def close(self):
        pass


def test_plan_groups_catches_up_and_is_idempotent(loaded):
    first = plan(loaded.factory, "acme", TODAY)
    assert (first.reminders_inserted, first.tasks_inserted) == (2, 1)
    rows = {r.step: r for r in _reminders(loaded)}
    assert set(rows) == {"overdue-10", "overdue-30"}
    assert len(rows["overdue-10"].receivable_ids) == 2 and rows["overdue-10"].channel == "email"
    assert rows["overdue-30"].channel == "sms" and rows["overdue-30"].recipient == "+8613812345678"
    second = plan(loaded.factory, "acme", TODAY)
    assert (second.reminders_inserted, second.tasks_inserted, len(second.planned)) == (0, 0, 0)
    assert len(_reminders(loaded)) == 2
    with loaded.factory() as s:
        task = s.scalar(select(Task))
    assert task.assignee == "张伟" and task.due_on == TODAY + timedelta(days=2)


def test_dry_run_writes_nothing(loaded):
    report = plan(loaded.factory, "acme", TODAY, dry_run=True)
    assert len(report.planned) == 2 and _reminders(loaded) == []


def test_planning_for_one_org_never_touches_another(loaded, tmp_path):
    plan(loaded.factory, "other", TODAY)
    assert _reminders(loaded, "acme") == [] and _reminders(loaded, "other") == []
    import_file(
        loaded.factory,
        "other",
        write_sheet(tmp_path / "o.csv", [row("C1", "INV-1", "2026-11-21")]),
        "spreadsheet",
    )
    plan(loaded.factory, "other", TODAY)
    assert len(_reminders(loaded, "other")) == 1 and _reminders(loaded, "acme") == []


def test_send_writes_the_outbox_and_records_the_provider_id(loaded, tmp_path):
    plan(loaded.factory, "acme", TODAY)
    outbox = OutboxChannel(tmp_path / "outbox")
    report = send_due(loaded.factory, "acme", TODAY_NOON, lambda _n: outbox)
    assert report.counts == {"sent": 2}
    rows = _reminders(loaded)
    assert all(r.status == "sent" and r.sent_at == TODAY_NOON for r in rows)
    assert sorted(p.name for p in (tmp_path / "outbox").rglob("*.*")) == [
        "r1_overdue-10_email.eml",
        "r3_overdue-30_sms.json",
    ]
    assert (tmp_path / "outbox" / rows[0].provider_message_id).exists()
    again = send_due(loaded.factory, "acme", TODAY_NOON, lambda _n: outbox)
    assert again.counts == {}


def test_nothing_is_sent_before_its_time(loaded):
    plan(loaded.factory, "acme", TODAY)
    early = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai, before the 09:00 slot
    recorder = Recorder()
    assert send_due(loaded.factory, "acme", early, lambda _n: recorder).counts == {}


def test_paid_after_planning_is_never_reminded(loaded, tmp_path):
    plan(loaded.factory, "acme", TODAY)
    with loaded.factory() as s, s.begin():  # a payment lands for C2's only invoice
        s.execute(update(Receivable).where(Receivable.external_id == "INV-3").values(status="paid"))
    recorder = Recorder()
    report = send_due(loaded.factory, "acme", TODAY_NOON, lambda _n: recorder)
    assert report.counts == {"sent": 1, "cancelled": 1}
    assert [m.channel for m in recorder.sent] == ["email"]
    cancelled = [r for r in _reminders(loaded) if r.status == "cancelled"]
    assert cancelled[0].error == "the invoice that set the pace is no longer owed"


def test_message_lists_only_invoices_still_owed(loaded):
    plan(loaded.factory, "acme", TODAY)
    with loaded.factory() as s, s.begin():
        s.execute(update(Receivable).where(Receivable.external_id == "INV-2").values(status="paid"))
    recorder = Recorder()
    send_due(loaded.factory, "acme", TODAY_NOON, lambda _n: recorder)
    email = next(m for m in recorder.sent if m.channel == "email")
    assert "INV-1" in email.text and "INV-2" not in email.text


def test_pause_set_after_planning_cancels(loaded):
    plan(loaded.factory, "acme", TODAY)
    with loaded.factory() as s, s.begin():
        s.execute(update(Customer).values(paused_until=TODAY + timedelta(days=7)))
    report = send_due(loaded.factory, "acme", TODAY_NOON, lambda _n: Recorder())
    assert report.counts == {"cancelled": 2}


def test_reimport_marking_paid_cancels_planned_rows(loaded, tmp_path):
    plan(loaded.factory, "acme", TODAY)
    paid = write_sheet(
        tmp_path / "p.csv",
        [row("C2", "INV-3", "2026-10-01", "70", open_amount="0", Mobile="13812345678", Email="")],
    )
    report = import_file(loaded.factory, "acme", paid, "spreadsheet")
    assert report.reminders_cancelled == 1


def test_a_worker_that_dies_mid_send_leaves_an_uncertain_row_never_resent(loaded):
    plan(loaded.factory, "acme", TODAY)
    target = _reminders(loaded)[0]
    with loaded.factory() as s, s.begin():  # claimed, then the process died
        s.execute(
            update(Reminder)
            .where(Reminder.id == target.id)
            .values(status="sending", lease_until=TODAY_NOON - timedelta(minutes=1))
        )
    recorder = Recorder()
    report = send_due(loaded.factory, "acme", TODAY_NOON, lambda _n: recorder)
    assert report.marked_uncertain == 1
    assert target.idempotency_key not in [m.key for m in recorder.sent]
    assert {r.id: r.status for r in _reminders(loaded)}[target.id] == "uncertain"


def test_unclassified_exception_during_send_is_uncertain(loaded):
    plan(loaded.factory, "acme", TODAY)
    report = send_due(loaded.factory, "acme", TODAY_NOON, lambda _n: Recorder(raises=True))
    assert report.counts == {"uncertain": 2}
    assert all("peer went away" in r.error for r in _reminders(loaded))


def test_retry_later_backs_off_and_broken_channel_is_held(loaded):
    plan(loaded.factory, "acme", TODAY)
    report = send_due(loaded.factory, "acme", TODAY_NOON, lambda _n: Recorder(Outcome.RETRY_LATER))
    assert report.counts == {"retry": 2}
    assert all(
        r.status == "planned" and r.scheduled_at > TODAY_NOON and r.attempts == 1
        for r in _reminders(loaded)
    )
    later = TODAY_NOON + timedelta(hours=1)
    broken = send_due(loaded.factory, "acme", later, lambda _n: Recorder(Outcome.CHANNEL_BROKEN))
    assert broken.broken_channels and sum(broken.counts.values()) == 2


def test_two_senders_cannot_both_claim_a_row(loaded):
    plan(loaded.factory, "acme", TODAY)
    with loaded.factory() as s:
        org = get_org(s, "acme")
    row_id = _reminders(loaded)[0].id
    first, second = Recorder(), Recorder()
    assert send_one(loaded.factory, org, row_id, TODAY_NOON, first, Renderer()) == "sent"
    assert send_one(loaded.factory, org, row_id, TODAY_NOON, second, Renderer()) == "skipped"
    assert len(first.sent) == 1 and second.sent == []


def test_outbox_path_is_per_org(loaded, tmp_path: Path):
    plan(loaded.factory, "acme", TODAY)
    outbox = OutboxChannel(tmp_path / "acme")
    send_due(loaded.factory, "acme", TODAY_NOON, lambda _n: outbox)
    assert not (tmp_path / "other").exists()


def test_planning_many_rows_takes_the_bulk_path_and_stays_idempotent(app, tmp_path):
    from dunlin.bulk import COPY_THRESHOLD

    n = COPY_THRESHOLD + 50
    rows = [row(f"C{i}", f"INV-{i}", "2026-11-21", "10") for i in range(n)]
    import_file(app.factory, "acme", write_sheet(tmp_path / "many.csv", rows), "spreadsheet")
    assert plan(app.factory, "acme", TODAY).reminders_inserted == n
    assert plan(app.factory, "acme", TODAY).reminders_inserted == 0
    keys = [r.idempotency_key for r in _reminders(app)]
    assert len(keys) == len(set(keys)) == n
    assert all(r.receivable_ids and r.amount_open == 10 for r in _reminders(app))
