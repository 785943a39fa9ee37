"""Sending and planning look rows up by lists of ids; each of those lookups must find them
through an index on the ids, not walk every row of the org through an index that starts with
org_id (what SQLite did for every chunk without statistics, 10-15 ms a statement at 100,000
reminders).

The plans are SQLite's, which has no statistics unless someone runs ANALYZE, so its choice
here is the one it makes in production. PostgreSQL's choice depends on its statistics, which
the bulk writers refresh (dunlin.bulk.analyze_after_bulk); the tenant test runs on both."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from dunlin.db import same_org
from reminders.models import Reminder
from reminders.planning.planner import plan
from reminders.sending.channels.base import Outcome
from reminders.sending.dispatch import send_due
from tests.integration.reminders.conftest import due_reminders, shanghai_today
from tests.integration.reminders.test_dispatch import Answering

BY_KEYS = re.compile(r"\b(reminders|customers|receivables)\.id IN \(", re.IGNORECASE)


def lookups_by_keys(app, work) -> list[tuple[str, object]]:
    """The statements `work` runs that select or update rows by a list of ids."""
    seen: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, executemany):
        if not executemany and BY_KEYS.search(statement):
            seen.append((statement, parameters))

    event.listen(app.engine, "before_cursor_execute", capture)
    try:
        work()
    finally:
        event.remove(app.engine, "before_cursor_execute", capture)
    return seen


def plan_of(app, statement: str, parameters) -> str:
    """SQLite's plan for one statement, as text."""
    raw = app.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
        plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
        raw.rollback()
        return plan
    finally:
        raw.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # see the module docstring
def test_every_lookup_by_ids_while_sending_goes_through_the_primary_key(app, tmp_path):
    due_reminders(app, tmp_path, 30)
    channels = {"email": Answering("email", Outcome.SENT)}
    statements = lookups_by_keys(
        app, lambda: send_due(app.factory, "acme", datetime.now(UTC), channels.__getitem__)
    )
    assert len(channels["email"].sent) == 30
    tables = {BY_KEYS.search(sql).group(1).lower() for sql, _ in statements}
    assert tables == {"reminders", "customers", "receivables"}  # claim, guard, queue
    for sql, parameters in statements:
        plan = plan_of(app, sql, parameters)
        assert "INTEGER PRIMARY KEY" in plan, (sql, plan)
        assert "(org_id=?" not in plan, (sql, plan)


def test_same_org_still_keeps_other_orgs_rows_out(app, tmp_path):
    acme = due_reminders(app, tmp_path, 3, "acme")
    other = due_reminders(app, tmp_path, 3, "other")
    with app.factory() as session:
        acme_org = session.scalar(select(Reminder.org_id).where(Reminder.id == acme[0]))
        found = session.scalars(
            select(Reminder.id).where(
                same_org(Reminder.org_id, acme_org), Reminder.id.in_(acme + other)
            )
        ).all()
        assert sorted(found) == sorted(acme)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # see the module docstring
def test_every_lookup_by_ids_while_planning_goes_through_an_index_on_them(app, tmp_path):
    """The planner's lookups of what was done, of cap usage, invoices and customers, by lists of
    ids (one JSON parameter on SQLite): none may walk the org's rows through `org_id = ?`, as
    the done-steps lookup once did for each chunk of 1,000 (92 s for a daily run at 1M)."""
    due_reminders(app, tmp_path, 30)  # planned today; three weeks on, the next step is due
    seen: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, executemany):
        if not executemany and "json_each" in statement:
            seen.append((statement, parameters))

    event.listen(app.engine, "before_cursor_execute", capture)
    try:
        report = plan(app.factory, "acme", shanghai_today().date() + timedelta(days=21))
    finally:
        event.remove(app.engine, "before_cursor_execute", capture)
    assert report.planned_count == 30
    tables = {re.search(r"FROM (\w+)", sql).group(1) for sql, _ in seen}
    assert {"reminders", "tasks", "receivables", "customers"} <= tables
    for sql, parameters in seen:
        query_plan = plan_of(app, sql, parameters)
        assert "(org_id=?)" not in query_plan, (sql, query_plan)
        assert "USING INDEX" in query_plan or "PRIMARY KEY" in query_plan, (sql, query_plan)
