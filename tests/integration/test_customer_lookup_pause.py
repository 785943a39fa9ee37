"""Finding a customer by external id or name, and pausing or resuming reminders: one function
each, used by the CLI, the admin API and the self-service page (SQLite and PostgreSQL)."""

from datetime import date

import pytest
from sqlalchemy import select

from dunlin.db import transaction
from dunlin.models import Event
from dunlin.orgs import get_org
from reminders.customer_actions import pause, resume
from sync.customers import find_customers
from sync.importer import import_file
from sync.models import Customer
from tests.integration.helpers import row, write_sheet


@pytest.fixture
def two_orgs(app, tmp_path):
    """C1 in both orgs under the same external id; two acme customers share a name."""
    rows = [
        row("C1", "INV-1", "2026-11-25"),
        row("C2", "INV-2", "2026-11-25", Customer="Twin"),
        row("C3", "INV-3", "2026-11-25", Customer="Twin"),
    ]
    import_file(app.factory, "acme", write_sheet(tmp_path / "a.csv", rows), "spreadsheet")
    other = [row("C1", "INV-9", "2026-11-25")]
    import_file(app.factory, "other", write_sheet(tmp_path / "o.csv", other), "spreadsheet")
    return app


def _org_id(session, slug="acme"):
    return get_org(session, slug).id


def test_lookup_by_external_id_or_exact_name_within_the_org(two_orgs):
    with two_orgs.factory() as s:
        acme = _org_id(s)
        (c1,) = find_customers(s, acme, "C1")
        assert c1.org_id == acme and c1.external_id == "C1"
        assert [c.external_id for c in find_customers(s, acme, "Twin")] == ["C2", "C3"]
        assert find_customers(s, acme, "Customer C1") == [c1]
        assert find_customers(s, acme, "C") == [] and find_customers(s, acme, "twin") == []
        (theirs,) = find_customers(s, _org_id(s, "other"), "C1")
        assert theirs.id != c1.id


def test_pause_and_resume_set_the_date_and_say_so_with_what_was_before(two_orgs):
    with transaction(two_orgs.factory) as s:
        (c1,) = find_customers(s, _org_id(s), "C1")
        pause(s, c1, date(2026, 12, 20), "snooze", actor="user:1")
        pause(s, c1, date(2026, 12, 31), "promise")
        resume(s, c1, actor="cli")
        assert c1.paused_until is None
        events = s.scalars(
            select(Event).where(Event.subject_type == "customer", Event.subject_id == c1.id)
        ).all()
    assert [(e.kind, e.actor, e.data) for e in events] == [
        ("customer.paused.snooze", "user:1", {"until": "2026-12-20", "before": None}),
        ("customer.paused.promise", "system", {"until": "2026-12-31", "before": "2026-12-20"}),
        ("customer.resumed", "cli", {"until": None, "before": "2026-12-31"}),
    ]


def test_a_pause_without_its_own_event_leaves_the_callers_event_alone(two_orgs):
    with transaction(two_orgs.factory) as s:
        (c1,) = find_customers(s, _org_id(s), "C1")
        pause(s, c1, date(2026, 12, 20), "promise", event=False)
        assert s.scalars(select(Event).where(Event.kind.like("customer.%"))).all() == []
    with two_orgs.factory() as s:
        assert s.scalar(select(Customer.paused_until).where(Customer.id == c1.id)) == date(
            2026, 12, 20
        )
