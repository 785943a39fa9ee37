"""`status_summary`: the numbers `dunlin status` prints, on SQLite and PostgreSQL."""

from datetime import date
from decimal import Decimal

from sqlalchemy import update

from dunlin.db import transaction
from dunlin.orgs import get_org
from reminders.models import ChannelConfig, Reminder
from reminders.planning.planner import plan
from reminders.status import status_summary
from sync.models import Customer
from tests.integration.test_cli_explain import TODAY, _load
from tests.integration.test_policies import customers as customers  # noqa: F401 - fixture


def test_the_summary_counts_money_ledger_tasks_and_trouble(customers):  # noqa: F811
    _load(customers)
    plan(customers.factory, "acme", TODAY)
    with transaction(customers.factory) as s:
        org = get_org(s, "acme")
        s.execute(update(Customer).where(Customer.external_id == "B1").values(timezone="Mars/X"))
        s.execute(update(Reminder).where(Reminder.channel == "wecom").values(status="uncertain"))
        s.add(ChannelConfig(org_id=org.id, name="sms", provider="aliyun", broken_reason="401"))
    with customers.factory() as s:
        org = get_org(s, "acme")
        summary = status_summary(s, org, today=TODAY)
        other = status_summary(s, get_org(s, "other"), today=TODAY)
    assert [(line.name, line.kind) for line in summary.sources] == [("spreadsheet", "spreadsheet")]
    # V1 10, B1 5000, R1 10 CNY + 10 USD: all open, all due before TODAY
    assert summary.open.count == summary.overdue.count == 4
    assert summary.open.totals == {"CNY": Decimal("5020"), "USD": Decimal("10")}
    assert summary.reminders == {"planned": 3, "uncertain": 1} and summary.uncertain == 1
    assert summary.in_flight == 0 and summary.open_tasks == 2
    assert summary.policy == "house@v1" and summary.invalid_timezones == ["B1"]
    assert [(b.name, b.provider, b.reason) for b in summary.broken_channels] == [
        ("sms", "aliyun", "401")
    ]
    assert summary.writebacks == {}
    assert other.open.count == 0 and other.reminders == {} and other.policy != "house@v1"
    assert summary.today == date(2026, 12, 1)
