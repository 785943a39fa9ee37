"""A sync page's upsert says which of its receivables are settled, and the reminders of exactly
those stop, on both stores (PostgreSQL from the upsert's RETURNING, SQLite by looking them up)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from dunlin.app import App
from dunlin.crypto import SecretBox
from dunlin.db import transaction, utcnow
from dunlin.orgs import get_org
from reminders.ledger import cancel_for_settled
from reminders.models import Reminder
from sync.models import Customer, Receivable
from sync.sources import add_source
from sync.store import upsert_receivables
from tests.integration.helpers import planned_reminder

FIELDS = ["external_id", "number", "currency", "amount_total", "amount_open", "due_on", "status"]


def _row(org_id: int, source_id: int, customer_id: int, ext: str, status: str) -> dict:
    now = utcnow()
    return {
        "org_id": org_id,
        "source_id": source_id,
        "customer_id": customer_id,
        "external_id": ext,
        "number": f"INV/{ext}",
        "currency": "CNY",
        "amount_total": Decimal(100),
        "amount_open": Decimal(0) if status == "paid" else Decimal(100),
        "due_on": date(2026, 11, 1),
        "status": status,
        "do_not_remind": False,
        "created_at": now,
        "updated_at": now,
    }


def test_the_upsert_names_the_settled_receivables_and_their_reminders_stop(app: App) -> None:
    box = SecretBox(app.settings.require_secret_key())
    with transaction(app.factory) as s:
        org = get_org(s, "acme")
        source = add_source(s, box, org.id, "odoo", "odoo", "odoo", {}, {})
        customer = Customer(org_id=org.id, source_id=source.id, external_id="P1", name="C")
        s.add(customer)
        s.flush()
        first = [_row(org.id, source.id, customer.id, ext, "open") for ext in ("1", "2", "3")]
        upsert_receivables(s, first, FIELDS)
        by_ext = {r.external_id: r for r in s.query(Receivable)}
        by_ext["3"].status = "disputed"  # recorded in Dunlin; the source still says open
        s.flush()
        reminders = {
            ext: planned_reminder(s, r, "c@example.com", datetime.now(UTC))
            for ext, r in by_ext.items()
        }
        ids = (org.id, source.id, customer.id)

    with transaction(app.factory) as s:
        page = [_row(*ids, "1", "open"), _row(*ids, "2", "paid"), _row(*ids, "3", "open")]
        settled = upsert_receivables(s, page, FIELDS)
        if app.engine.dialect.name == "postgresql":
            assert sorted(settled or []) == sorted([by_ext["2"].id, by_ext["3"].id])
        else:
            assert settled is None  # SQLite's executemany returns nothing: looked up instead
        cancelled = cancel_for_settled(
            s, ids[0], ids[1], [r["external_id"] for r in page], settled_ids=settled
        )

    assert cancelled == 2
    with app.factory() as s:
        status = {ext: s.get(Reminder, r.id).status for ext, r in reminders.items()}
        kept = s.get(Receivable, by_ext["3"].id).status
    assert status == {"1": "planned", "2": "cancelled", "3": "cancelled"}
    assert kept == "disputed"
