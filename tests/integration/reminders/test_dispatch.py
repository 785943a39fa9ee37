"""Fallback to the step's next channel, broken channels held and released, audit events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from dunlin.crypto import SecretBox
from dunlin.db import transaction
from dunlin.models import Event
from dunlin.orgs import get_org
from reminders.models import ChannelConfig, Reminder
from reminders.planning.planner import plan
from reminders.sending.channel_store import enable_channel, save_channel
from reminders.sending.channels.base import Outcome, SendResult
from reminders.sending.dispatch import ATTEMPT_GROUP, Dispatcher, send_due
from sync.importer import import_file
from tests.integration.helpers import row, write_sheet
from tests.integration.reminders.conftest import due_reminders

TODAY = date(2026, 12, 1)
NOON = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


class Answering:
    """Answers per channel name as told, recording what was sent."""

    rate_per_second = None
    recipient_limits = ()

    def __init__(self, name: str, outcome: Outcome) -> None:
        self.name, self.outcome, self.sent = name, outcome, []

    def send(self, message):
        self.sent.append(message)
        return SendResult(self.outcome, "p-1" if self.outcome is Outcome.SENT else None, "said so")

    def close(self):
        return None


def load(app, tmp_path):
    sheet = [row("C9", "INV-9", "2026-10-01", "70", Mobile="13812345678")]  # day +61: sms first
    import_file(app.factory, "acme", write_sheet(tmp_path / "s.csv", sheet), "spreadsheet")
    plan(app.factory, "acme", TODAY)


def rows(app):
    with app.factory() as s:
        return s.scalars(select(Reminder).order_by(Reminder.id)).all()


def test_a_permanent_refusal_falls_back_to_the_steps_next_channel_once(app, tmp_path):
    load(app, tmp_path)
    (first,) = rows(app)
    assert first.channel == "sms" and first.fallbacks and first.fallbacks[0][0][0] == "email"
    channels = {"sms": Answering("sms", Outcome.PERMANENT_RECIPIENT)}
    channels["email"] = Answering("email", Outcome.SENT)
    send_due(app.factory, "acme", NOON, channels.__getitem__)
    send_due(app.factory, "acme", NOON + timedelta(minutes=1), channels.__getitem__)
    send_due(app.factory, "acme", NOON + timedelta(minutes=2), channels.__getitem__)
    by_channel = {r.channel: r for r in rows(app)}
    assert by_channel["sms"].status == "failed"
    assert by_channel["email"].status == "sent" and by_channel["email"].recipient == "c9@x.cn"
    assert by_channel["email"].idempotency_key == first.idempotency_key.rsplit(":", 1)[0] + ":email"
    assert len(channels["email"].sent) == 1 and len(channels["sms"].sent) == 1


def test_a_broken_channel_is_marked_alerted_held_and_released_on_enable(app, tmp_path):
    load(app, tmp_path)
    box = SecretBox(app.settings.require_secret_key())
    with transaction(app.factory) as session:
        org_id = get_org(session, "acme").id
        save_channel(
            session,
            box,
            org_id,
            "sms",
            "twilio",
            {"account_sid": "AC1", "from": "+1"},
            {"auth_token": "twilio-test-token"},
        )
    broken = Answering("sms", Outcome.CHANNEL_BROKEN)
    report = send_due(app.factory, "acme", NOON, lambda _n: broken)
    assert report.broken_channels == {"sms"}
    (held,) = rows(app)
    assert held.status == "planned" and held.scheduled_at > NOON and held.attempts == 0
    with app.factory() as session:
        config = session.scalar(select(ChannelConfig))
        assert config.broken_reason == "said so"
        kinds = set(session.scalars(select(Event.kind)))
    assert {"channel.broken", "reminder.sending", "reminder.planned"} <= kinds
    with transaction(app.factory) as session:
        assert enable_channel(session, org_id, "sms", NOON) == 1
    ok = Answering("sms", Outcome.SENT)
    send_due(app.factory, "acme", NOON, lambda _n: ok)
    assert rows(app)[0].status == "sent" and len(ok.sent) == 1


def test_other_orgs_rows_are_never_claimed(app, tmp_path):
    load(app, tmp_path)
    recorder = Answering("sms", Outcome.SENT)
    report = send_due(app.factory, "other", NOON, lambda _n: recorder)
    assert recorder.sent == [] and sum(report.counts.values()) == 0
    assert rows(app)[0].status == "planned"


def test_queueing_and_sweeping_one_org_never_touch_another(app, tmp_path, redis):
    from reminders.sending.queue import enqueue_due, sweep

    load(app, tmp_path)
    with transaction(app.factory) as session:  # acme's row is in flight with an expired lease
        session.execute(
            Reminder.__table__.update().values(
                status="sending", lease_until=NOON - timedelta(minutes=1)
            )
        )
    assert enqueue_due(app.factory, redis, "other", NOON) == 0
    report = sweep(app.factory, redis, "other", NOON)
    assert (report.uncertain, report.requeued) == (0, 0)
    assert rows(app)[0].status == "sending"
    assert sweep(app.factory, redis, "acme", NOON).uncertain == 1


def test_the_attempt_log_lists_every_row_before_its_send_a_few_rows_ahead(app, tmp_path):
    ids = due_reminders(app, tmp_path, 23)
    trail: list[tuple[str, tuple[int, ...]]] = []

    class Tracing(Answering):
        def send(self, message):
            trail.append(("send", (message.metadata["reminder_id"],)))
            return super().send(message)

    with app.factory() as session:
        org = get_org(session, "acme")
        session.expunge(org)
    dispatcher = Dispatcher(
        app.factory,
        org,
        lambda _name: Tracing("email", Outcome.SENT),
        before_send=lambda group: trail.append(("log", tuple(group))),
    )
    assert dispatcher.deliver(sorted(ids)).counts["sent"] == 23
    logged: list[int] = []
    for kind, members in trail:
        if kind == "log":
            assert len(members) <= ATTEMPT_GROUP and not set(members) & set(logged)
            logged.extend(members)
        else:  # a send only ever follows its row's entry in the log
            assert members[0] in logged
    sends = [members[0] for kind, members in trail if kind == "send"]
    assert sorted(sends) == sorted(ids) and sorted(logged) == sorted(ids)
    writes = sum(1 for kind, _ in trail if kind == "log")
    assert writes == -(-23 // ATTEMPT_GROUP)  # one write per group, not one per message
    # never more than a group ahead: the rows logged but not yet sent stay below ATTEMPT_GROUP
    ahead = 0
    for kind, members in trail:
        ahead += len(members) if kind == "log" else -1
        assert 0 <= ahead <= ATTEMPT_GROUP


def test_a_refused_attempt_log_stops_the_sends_and_releases_the_rest(app, tmp_path):
    """When the log cannot vouch (Redis flushed, or the sweeper sealed it), the rows not yet
    begun go back to `planned` with their attempt undone; the ones sent are recorded."""
    ids = due_reminders(app, tmp_path, 25)
    channel = Answering("email", Outcome.SENT)
    writes = []

    def before_send(group):
        writes.append(group)
        if len(writes) == 2:
            raise RuntimeError("attempt log lost")

    with app.factory() as session:
        org = get_org(session, "acme")
        session.expunge(org)
    dispatcher = Dispatcher(
        app.factory, org, lambda _n: channel, before_send=before_send, job_id="job-9#x"
    )
    try:
        dispatcher.deliver(sorted(ids))
    except RuntimeError:
        pass
    else:
        raise AssertionError("the refusal must stop the job")
    by_status = {}
    for reminder in rows(app):
        by_status.setdefault(reminder.status, []).append(reminder)
    assert len(channel.sent) == ATTEMPT_GROUP
    assert len(by_status["sent"]) == ATTEMPT_GROUP
    released = by_status["planned"]
    assert len(released) == 25 - ATTEMPT_GROUP
    assert all(r.attempts == 0 and r.job_id is None and r.lease_until is None for r in released)
