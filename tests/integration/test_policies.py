"""Policies through the real planner and dispatcher, on SQLite and PostgreSQL."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from dunlin.db import transaction
from dunlin.orgs import get_org
from dunlin.yamlsource import ConfigFileError
from reminders.models import Reminder, Task
from reminders.planning import planner
from reminders.planning.planner import plan
from reminders.planning.policy_store import active_policy, save_version, versions
from reminders.sending.dispatch import send_due
from sync.importer import import_file
from sync.models import Customer, Receivable
from tests.integration.helpers import row, write_sheet
from tests.integration.test_cycle import Recorder, _reminders

TODAY = date(2026, 12, 1)  # a Tuesday
SHANGHAI = ZoneInfo("Asia/Shanghai")

POLICY = """\
name: house
send_windows: {mon-fri: "09:00-12:00, 14:00-18:00"}
spread_minutes: 20
caps: {per_day: 1, per_week: 2}
tracks:
  - name: vip
    match: {tags: [vip]}
    veto_hours: 24
    steps:
      - {name: vip-nudge, offset_days: 1, channels: [[email, wecom]]}
  - name: big
    match: {min_amount: 1000}
    steps:
      - name: big-call
        offset_days: 1
        business_days: true
        channels: [email]
        task: {assignee: "role:finance", due_in_business_days: 2}
  - name: rest
    steps:
      - {name: nudge, offset_days: 1, channels: [email]}
      - {name: again, after_previous_days: 2, channels: [email]}
"""


def _load(app, text=POLICY, org="acme"):
    with transaction(app.factory) as s:
        return save_version(s, get_org(s, org).id, text, "house.yaml")


@pytest.fixture
def customers(app, tmp_path):
    rows = [
        row("V1", "INV-V", "2026-11-25", "10", Tags="vip", **{"WeCom ID": "wx-v1"}),
        row("B1", "INV-B", "2026-11-25", "5000"),
        row("R1", "INV-R", "2026-11-30", "10"),
        row("R1", "INV-R2", "2026-11-30", "10", Currency="USD"),
    ]
    import_file(app.factory, "acme", write_sheet(tmp_path / "a.csv", rows), "spreadsheet")
    return app


def test_versions_are_kept_and_the_newest_is_active(customers):
    app = customers
    first, created = _load(app)
    assert (first.version, created) == (1, True)
    assert _load(app)[1] is False  # same text: no new version
    second, _ = _load(app, POLICY.replace("spread_minutes: 20", "spread_minutes: 10"))
    with app.factory() as s:
        org_id = get_org(s, "acme").id
        assert [v.version for v in versions(s, org_id)] == [2, 1]
        assert active_policy(s, org_id).label == "house@v2"
        assert active_policy(s, get_org(s, "other").id).label == "default (built-in)"  # per org


def test_a_tag_no_customer_has_is_rejected_with_its_line(customers):
    with pytest.raises(ConfigFileError) as info:
        _load(customers, POLICY.replace("tags: [vip]", "tags: [vipp]"))
    (issue,) = info.value.issues
    assert "vipp" in issue.message and issue.line == 7 and issue.field == "tracks.0.match.tags"


def test_tracks_parallel_groups_windows_tasks_and_veto(customers):
    _load(customers)
    report = plan(customers.factory, "acme", TODAY)
    assert report.policy == "house@v1"
    by_step = {}
    for r in _reminders(customers):
        by_step.setdefault(r.step, []).append(r)
    # vip: both channels of the parallel group, held a day for review
    assert sorted(r.channel for r in by_step["vip-nudge"]) == ["email", "wecom"]
    vip_time = by_step["vip-nudge"][0].scheduled_at.astimezone(SHANGHAI)
    assert vip_time.date() == TODAY + timedelta(days=1)
    # every send time sits inside a window on a working day, spread within 20 minutes of opening
    for r in _reminders(customers):
        local = r.scheduled_at.astimezone(SHANGHAI)
        assert local.weekday() < 5 and (9 <= local.hour < 12 or 14 <= local.hour < 18)
        assert r.planned_on == TODAY
    with customers.factory() as s:
        tasks = {t.idempotency_key.split(":")[0]: t for t in s.scalars(select(Task))}
    assert tasks["task"].assignee == "role:finance" and tasks["task"].due_on == date(2026, 12, 3)
    assert tasks["veto"].data["reminder_keys"] and tasks["veto"].due_on == TODAY + timedelta(days=1)
    # the cap (1 a day) holds R1's second currency group back
    assert report.skipped["frequency cap reached"] == 1
    assert {r.step for r in _reminders(customers)} == {"vip-nudge", "big-call", "nudge"}


def test_vetoed_reminder_is_cancelled_at_send_time(customers):
    _load(customers)
    plan(customers.factory, "acme", TODAY)
    with customers.factory() as s, s.begin():
        s.execute(update(Task).where(Task.idempotency_key.like("veto:%")).values(status="vetoed"))
    later = datetime(2026, 12, 2, 9, 30, tzinfo=SHANGHAI).astimezone(UTC)
    report = send_due(customers.factory, "acme", later, lambda _n: Recorder())
    statuses = {(r.step, r.channel): r.status for r in _reminders(customers)}
    assert statuses[("vip-nudge", "email")] == statuses[("vip-nudge", "wecom")] == "cancelled"
    assert report.counts["sent"] == 2


@pytest.mark.parametrize("lookup_limit", [0, planner.LOOKUP_LIMIT], ids=["scan", "lookups"])
def test_relative_step_and_weekly_cap_over_several_days(customers, monkeypatch, lookup_limit):
    """(Run both ways the planner reads its candidates: one scan of the org, lookups by id.)"""
    monkeypatch.setattr(planner, "LOOKUP_LIMIT", lookup_limit)
    _load(customers)
    for offset in range(6):
        plan(customers.factory, "acme", TODAY + timedelta(days=offset))
    # R1 CNY: nudge on Tue; its USD group waits for the daily cap until Wed; "again" (2 days
    # after the nudge) is held by the weekly cap of 2 until a send day in the next week.
    r1 = [r for r in _reminders(customers) if r.recipient == "r1@x.cn"]
    sends = sorted((r.scheduled_at.astimezone(SHANGHAI).date(), r.step, r.currency) for r in r1)
    assert sends[:2] == [(TODAY, "nudge", "CNY"), (TODAY + timedelta(days=1), "nudge", "USD")]
    assert sends[2][0] >= date(2026, 12, 7) and sends[2][1] == "again"
    per_day: dict[date, int] = {}
    per_week: dict[int, int] = {}
    for day, _step, _currency in sends:
        per_day[day] = per_day.get(day, 0) + 1
        per_week[day.isocalendar().week] = per_week.get(day.isocalendar().week, 0) + 1
    assert max(per_day.values()) <= 1 and max(per_week.values()) <= 2


def test_invalid_customer_time_zone_falls_back_and_is_flagged(customers):
    with customers.factory() as s, s.begin():
        s.execute(update(Customer).where(Customer.external_id == "B1").values(timezone="Mars/Base"))
    report = plan(customers.factory, "acme", TODAY)
    assert report.invalid_timezones == {"B1"}
    with customers.factory() as s:
        b1 = s.scalar(select(Customer.id).where(Customer.external_id == "B1"))
        scheduled = s.scalar(select(Reminder.scheduled_at).where(Reminder.customer_id == b1))
    assert scheduled.astimezone(SHANGHAI).hour >= 9


def test_dry_run_with_a_file_policy_writes_nothing(customers):
    from reminders.planning.policy_file import parse_policy

    report = plan(
        customers.factory, "acme", TODAY, policy=parse_policy(POLICY, "p.yaml"), dry_run=True
    )
    assert report.policy == "house (file)" and len(report.planned) == 3
    assert _reminders(customers) == []
    with customers.factory() as s:
        assert s.scalars(select(Task)).all() == []


@pytest.mark.parametrize("lookup_limit", [0, planner.LOOKUP_LIMIT], ids=["scan", "lookups"])
def test_caps_hold_when_a_customers_groups_fall_in_different_chunks(
    customers, monkeypatch, lookup_limit
):
    """Candidates are decided in chunks; a customer split across chunks (R1's CNY and USD
    groups) is still held to one reminder a day."""
    monkeypatch.setattr(planner, "CANDIDATE_CHUNK", 1)
    monkeypatch.setattr(planner, "LOOKUP_LIMIT", lookup_limit)
    _load(customers)
    report = plan(customers.factory, "acme", TODAY)
    assert report.skipped["frequency cap reached"] == 1
    r1 = [r for r in _reminders(customers) if r.recipient == "r1@x.cn"]
    assert [(r.step, r.currency) for r in r1] == [("nudge", "CNY")]


def test_a_payment_between_the_passes_is_decided_on_what_was_done_for_the_new_pace(
    app, tmp_path, monkeypatch
):
    """The first pass picks INV-A as the group's pace-setter; INV-A is paid before the group
    is decided, so INV-B sets the pace again. What was done for INV-B (its nudge yesterday)
    must be looked up then: without it the planner would think the nudge never happened and
    plan it a second time."""
    sheet = [
        row("V1", "INV-V", "2026-11-30", "10", Tags="vip"),
        row("P1", "INV-B", "2026-11-30", "10"),
    ]
    import_file(app.factory, "acme", write_sheet(tmp_path / "b.csv", sheet), "spreadsheet")
    _load(app)
    plan(app.factory, "acme", TODAY)  # INV-B: nudge today; "again" two days after it
    sheet.append(row("P1", "INV-A", "2026-11-20", "10"))
    import_file(app.factory, "acme", write_sheet(tmp_path / "ab.csv", sheet), "spreadsheet")

    first_pass = planner._candidates

    def then_paid(session, *args, **kwargs):
        found = first_pass(session, *args, **kwargs)
        session.execute(
            update(Receivable).where(Receivable.number == "INV-A").values(status="paid")
        )
        return found

    monkeypatch.setattr(planner, "_candidates", then_paid)
    report = plan(app.factory, "acme", TODAY + timedelta(days=1))
    assert report.planned_count == 0
    assert [r.step for r in _reminders(app) if r.recipient == "p1@x.cn"] == ["nudge"]
