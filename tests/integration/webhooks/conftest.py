"""The web app on the real store (SQLite and PostgreSQL), with an Odoo-kind source, a customer,
an overdue invoice and a reminder due now, per org."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dunlin.app import App
from dunlin.crypto import SecretBox
from dunlin.db import transaction
from dunlin.orgs import get_org
from sync.models import Customer, Receivable
from sync.sources import add_source, new_webhook_secret
from tests.integration.helpers import planned_reminder
from webhooks import create_app

PUBLIC_URL = "https://pay.example.com"


@dataclass
class Seeded:
    org_id: int
    source_id: int
    secret: str
    customer_id: int
    receivable_id: int
    reminder_id: int


@pytest.fixture
def web(app: App) -> Iterator[Flask]:
    settings = app.settings.model_copy(update={"public_url": PUBLIC_URL})
    flask_app = create_app(settings)
    flask_app.config["TESTING"] = True
    yield flask_app
    syncs = flask_app.extensions.get("dunlin_push_syncs")
    if syncs is not None:  # a push's background sync ends before its fakes and database do
        syncs.inline.wait()


@pytest.fixture
def client(web: Flask) -> FlaskClient:
    return web.test_client()


def seed(app: App, org_slug: str = "acme", external_id: str = "1234", n: int = 0) -> Seeded:
    box = SecretBox(app.settings.require_secret_key())
    now = datetime.now(UTC)
    with transaction(app.factory) as session:
        org = get_org(session, org_slug)
        source = add_source(
            session, box, org.id, f"odoo{n}", "odoo", "odoo", {}, {"password": "pw-secret-1"}
        )
        secret = new_webhook_secret(box, source)
        customer = Customer(
            org_id=org.id,
            source_id=source.id,
            external_id=f"P{n}",
            name=f"客户 {n}",
            email=f"c{n}@example.com",
            tier="B",
            salesperson_ref="7",
            language="zh_CN",
        )
        session.add(customer)
        session.flush()
        invoice = Receivable(
            org_id=org.id,
            source_id=source.id,
            customer_id=customer.id,
            external_id=external_id,
            number=f"INV/{n}",
            currency="CNY",
            amount_total=Decimal("1280.00"),
            amount_open=Decimal("1280.00"),
            due_on=date.today() - timedelta(days=10),
            status="open",
            payment_url="https://pay.example.com/invoice/1234",
        )
        session.add(invoice)
        session.flush()
        reminder = planned_reminder(session, invoice, customer.email, now - timedelta(minutes=1))
        return Seeded(org.id, source.id, secret, customer.id, invoice.id, reminder.id)
