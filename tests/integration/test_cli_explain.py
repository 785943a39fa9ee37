"""`dunlin explain` says what `dunlin plan` does, caps included, on SQLite and PostgreSQL."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from dunlin.orgs import get_org
from reminders.planning.planner import CAP_REACHED, Planned, explain, plan
from sync.models import Customer
from tests.integration.test_cli import run
from tests.integration.test_policies import TODAY, _load
from tests.integration.test_policies import customers as customers  # noqa: F401 - fixture


@pytest.fixture
def cli(customers, settings, tmp_path):  # noqa: F811 - the imported fixture
    """Run `dunlin` against the test's store, as the acme org."""
    _load(customers)
    env = {
        "DUNLIN_DATABASE_URL": settings.resolved_database_url,
        "DUNLIN_SECRET_KEY": settings.secret_key.get_secret_value(),
        "DUNLIN_DATA_DIR": str(settings.data_dir),
        "DUNLIN_ORG": "acme",
    }
    return lambda *args: run([*args], tmp_path, **env)


def _flat(output: str) -> str:
    """The output with the console's line wrapping undone."""
    return " ".join(output.split())


def _lines(output: str, currency: str) -> list[str]:
    """Explain's verdicts for R1's group in `currency`."""
    return [v for v in _flat(output).split("Customer R1 ")[1:] if v.startswith(f"[{currency}]")]


def test_a_second_group_over_the_daily_cap_is_cap_reached_in_plan_and_explain(cli):
    """R1 owes in CNY and USD; the policy allows one reminder a day, so USD waits."""
    day = TODAY.isoformat()
    dry = cli("plan", "--dry-run", "--date", day)
    assert dry.returncode == 0, dry.stderr
    assert re.search(r"\b1 frequency cap reached\b", _flat(dry.stdout)), dry.stdout
    explained = cli("explain", "R1", "--date", day)
    assert explained.returncode == 0, explained.stderr
    (cny,) = _lines(explained.stdout, "CNY")
    (usd,) = _lines(explained.stdout, "USD")
    assert "remind via email" in cny
    assert "no reminder" in usd and "cap reached" in usd


def test_a_weekly_cap_used_by_earlier_days_is_cap_reached_in_plan_and_explain(customers, cli):  # noqa: F811
    """Caps count what the ledger already holds: two sends this week leave R1's "again" step
    (due on the third day) held by the weekly cap of two, in both commands."""
    plan(customers.factory, "acme", TODAY)
    plan(customers.factory, "acme", TODAY + timedelta(days=1))
    day = (TODAY + timedelta(days=2)).isoformat()
    dry = cli("plan", "--dry-run", "--date", day)
    assert dry.returncode == 0, dry.stderr
    assert re.search(r"\b1 frequency cap reached\b", _flat(dry.stdout)), dry.stdout
    explained = cli("explain", "R1", "--date", day)
    assert explained.returncode == 0, explained.stderr
    (cny,) = _lines(explained.stdout, "CNY")
    assert "no reminder" in cny and "cap reached" in cny


def test_explain_agrees_with_plan_for_every_customer_day_after_day(customers):  # noqa: F811
    """Over a week of real plans, explaining every customer gives exactly the messages and the
    cap refusals a dry run of the whole org gives."""
    _load(customers)
    with customers.factory() as s:
        org_id = get_org(s, "acme").id
        ids = list(s.scalars(select(Customer.id).where(Customer.org_id == org_id)))
    for offset in range(7):
        day = TODAY + timedelta(days=offset)
        dry = plan(customers.factory, "acme", day, dry_run=True)
        told = explain(customers.factory, "acme", ids, day)
        planned = [e.outcome for e in told if isinstance(e.outcome, Planned)]
        assert sorted((p.base_key, p.scheduled_at) for p in planned) == sorted(
            (p.base_key, p.scheduled_at) for p in dry.planned
        )
        capped = sum(e.outcome == CAP_REACHED for e in told)
        assert capped == dry.skipped["frequency cap reached"]
        plan(customers.factory, "acme", day)
