"""The planner's set-based reads, on SQLite and PostgreSQL: the database's choice of each group's
pace-setter agrees with the decision core's own rule (`pace_setter`) applied to every
receivable, and the lookups by id return what was done for exactly the receivables asked
about."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from dunlin.app import App
from dunlin.db import transaction, utcnow
from dunlin.orgs import get_org
from reminders.core.decide import pace_setter
from reminders.models import Task
from reminders.planning.facts import (
    LOOKUP_CHUNK,
    done_steps,
    invoice_facts,
    pace_setters,
    stream_groups,
)
from sync.models import Customer, Receivable
from sync.sources import ensure_source
from tests.integration.helpers import planned_reminder

DAY = date(2026, 12, 1)
DAY_ = timedelta(days=1)
# Amounts whose text order differs from their numeric order (Money is text on SQLite).
AMOUNTS = ("0", "0.00", "0.0001", "-5.00", "9.99", "10.00", "100", "1e2", "0.50")


def _fill(app: App, org: str, seed: int, customers: int = 40) -> int:
    rng = random.Random(seed)
    with transaction(app.factory) as s:
        org_id = get_org(s, org).id
        source = ensure_source(s, org_id, "sheet", "spreadsheet", "spreadsheet")
        people = [
            Customer(org_id=org_id, source_id=source.id, external_id=f"C{i}", name=f"C{i}")
            for i in range(customers)
        ]
        s.add_all(people)
        s.flush()
        for n in range(customers * 6):
            amount = Decimal(rng.choice(AMOUNTS))
            s.add(
                Receivable(
                    org_id=org_id,
                    source_id=source.id,
                    customer_id=rng.choice(people).id,
                    external_id=f"R{n}",
                    number=f"R{n}",
                    currency=rng.choice(("CNY", "USD", "EUR")),
                    amount_total=amount,
                    amount_open=amount,
                    due_on=DAY + timedelta(days=rng.randint(-3, 3)),  # many ties on the date
                    status=rng.choice(("open", "open", "open", "paid", "cancelled")),
                    do_not_remind=rng.random() < 0.2,
                )
            )
    return org_id


def test_pace_setters_are_each_groups_first_remindable_invoice(app: App) -> None:
    org_id = _fill(app, "acme", seed=1)
    _fill(app, "other", seed=2)
    with app.factory() as s:
        expected = []
        for customer_id, currency, rows in stream_groups(s, org_id):
            first = pace_setter(invoice_facts(rows))
            if first is not None:
                expected.append((customer_id, currency, first.id))
        got = [(r.customer_id, r.currency, r.id) for r in pace_setters(s, org_id)]
    assert len(expected) > 20  # the data has groups with and without a remindable invoice
    assert got == expected


def _done_for(app: App, org_id: int) -> list[Receivable]:
    """A sent nudge (planned 0-2 days before DAY) and a task-only call step for every
    pace-setter of the org; returns the pace-setters."""
    with transaction(app.factory) as s:
        pace = [s.get(Receivable, r.id) for r in pace_setters(s, org_id)]
        for n, invoice in enumerate(pace):
            planned_reminder(
                s, invoice, "c@example.com", utcnow(), step="nudge", planned_on=DAY - n % 3 * DAY_
            )
            s.add(
                Task(
                    org_id=org_id,
                    customer_id=invoice.customer_id,
                    receivable_id=invoice.id,
                    idempotency_key=f"task:r{invoice.id}:call",
                    summary="call",
                    due_on=DAY,
                    step="call",
                    planned_on=DAY,
                )
            )
        s.flush()
        s.expunge_all()  # the pace-setters stay readable after the commit
    return pace


@pytest.mark.parametrize("chunk", [3, LOOKUP_CHUNK])
def test_done_steps_answers_for_the_targets_asked_about_only(app: App, monkeypatch, chunk) -> None:
    import reminders.planning.facts as facts

    monkeypatch.setattr(facts, "LOOKUP_CHUNK", chunk)
    org_id = _fill(app, "acme", seed=3)
    other_org = _fill(app, "other", seed=4)
    pace = _done_for(app, org_id)
    theirs = _done_for(app, other_org)
    asked, other = pace[::2], pace[1::2]
    with app.factory() as s:
        done = done_steps(s, org_id, [r.id for r in asked])
        # Another org's receivable ids, asked about as this org's: nothing comes back.
        assert done_steps(s, org_id, [r.id for r in theirs]) == {}
    assert set(done) == {r.id for r in asked}
    assert not set(done) & {r.id for r in other}
    for n, r in enumerate(pace):
        if r.id in done:
            assert done[r.id] == {"nudge": DAY - n % 3 * DAY_, "call": DAY}
