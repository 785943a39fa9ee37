"""The store on both backends: exact money, UTC times, the ledger's uniqueness, migrations."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dunlin.db import transaction
from dunlin.models import Org
from reminders.models import Reminder
from sync.models import Customer, Receivable
from sync.sources import ensure_source
from usecases.schema import all_models


def _customer_and_receivable(session, org_id: int, amount: Decimal):
    source = ensure_source(session, org_id, "s", "spreadsheet", "spreadsheet")
    customer = Customer(org_id=org_id, source_id=source.id, external_id="C1", name="甲")
    session.add(customer)
    session.flush()
    receivable = Receivable(
        org_id=org_id,
        source_id=source.id,
        customer_id=customer.id,
        external_id="R1",
        number="R1",
        currency="CNY",
        amount_total=amount,
        amount_open=amount,
        due_on=date(2026, 1, 1),
    )
    session.add(receivable)
    session.flush()
    return customer, receivable


def test_migrations_match_the_models(app):
    with app.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": False}), all_models().metadata
        )
    assert diff == []


def test_money_is_exact(app):
    big = Decimal("12345678901234.5678")  # beyond a float's 15-16 significant digits
    with transaction(app.factory) as session:
        org = session.scalar(select(Org).where(Org.slug == "acme"))
        _customer_and_receivable(session, org.id, big)
    with app.factory() as session:
        stored = session.scalar(select(Receivable.amount_open))
    assert stored == big and isinstance(stored, Decimal)


def test_datetimes_come_back_as_utc(app):
    shanghai = timezone(timedelta(hours=8))
    with transaction(app.factory) as session:
        org = session.scalar(select(Org).where(Org.slug == "acme"))
        org.created_at = datetime(2026, 3, 5, 9, 0, tzinfo=shanghai)
    with app.factory() as session:
        created = session.scalar(select(Org.created_at).where(Org.slug == "acme"))
    assert created == datetime(2026, 3, 5, 1, 0, tzinfo=UTC) and created.tzinfo is not None


def test_ledger_key_is_unique_per_org(app):
    def reminder(org_id, customer_id, receivable_id):
        return Reminder(
            org_id=org_id,
            customer_id=customer_id,
            target_receivable_id=receivable_id,
            receivable_ids=[receivable_id],
            idempotency_key="r1:overdue-3:email",
            policy="p",
            track="t",
            step="overdue-3",
            channel="email",
            template="reminder",
            recipient="a@x",
            currency="CNY",
            amount_open=Decimal(1),
            scheduled_at=datetime.now(UTC),
        )

    with transaction(app.factory) as session:
        acme = session.scalar(select(Org).where(Org.slug == "acme"))
        other = session.scalar(select(Org).where(Org.slug == "other"))
        c1, r1 = _customer_and_receivable(session, acme.id, Decimal(1))
        c2, r2 = _customer_and_receivable(session, other.id, Decimal(1))
        session.add_all(
            [reminder(acme.id, c1.id, r1.id), reminder(other.id, c2.id, r2.id)]
        )  # same key, two orgs
    with pytest.raises(IntegrityError), transaction(app.factory) as session:
        session.add(reminder(acme.id, c1.id, r1.id))
