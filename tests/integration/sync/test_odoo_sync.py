"""Odoo sync end to end over real HTTP: full, incremental, payments, outages, bad records."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from dunlin.orgs import get_org
from sync.models import Customer, Receivable, Source, SyncCursor
from sync.run import sync_sources
from tests.integration.sync.conftest import add_odoo_source, reconcile_due

NO_SLEEP = lambda _s: None  # noqa: E731 - backoff is exercised, not waited for


def _count(app, model, **where):
    with app.factory() as s:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return s.scalar(query)


def _receivable(app, external_id):
    with app.factory() as s:
        return s.scalar(select(Receivable).where(Receivable.external_id == str(external_id)))


@pytest.mark.parametrize("protocol", ["jsonrpc", "xmlrpc"])
def test_full_sync_reads_partners_and_invoices(app, box, odoo, protocol):
    add_odoo_source(app, box, odoo, protocol=protocol)
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "ok", report.detail
    assert _count(app, Customer) == 30
    moves = odoo.db.tables["account.move"].values()
    assert _count(app, Receivable) == len(moves)
    sample = next(m for m in moves if m["state"] == "posted" and m["payment_state"] == "partial")
    rec = _receivable(app, sample["id"])
    assert rec.status == "open"
    assert rec.amount_open == Decimal(str(sample["amount_residual"]))
    assert rec.currency == ("CNY" if sample["currency_id"] == 1 else "USD")
    assert rec.number == sample["name"]
    paid = next(m for m in moves if m["state"] == "posted" and m["payment_state"] == "paid")
    assert _receivable(app, paid["id"]).status == "paid"
    draft = next(m for m in moves if m["state"] == "draft")
    assert _receivable(app, draft["id"]).status == "cancelled"


@pytest.mark.parametrize("odoo", [19], indirect=True)
def test_full_sync_over_json2_with_an_api_key_on_odoo_19(app, box, odoo):
    add_odoo_source(app, box, odoo, protocol="json2")
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "ok", report.detail
    assert _count(app, Receivable) == len(odoo.db.tables["account.move"])
    assert all(path.startswith(("/json/2/", "/web/")) for _m, path in odoo.app.requests)
    with app.factory() as s:
        assert s.scalar(select(func.count()).where(Customer.mobile.is_not(None))) > 0  # phone


def test_incremental_sync_sees_payments_and_stops_reminders(app, box, odoo):
    add_odoo_source(app, box, odoo)
    sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    target = next(
        m
        for m in odoo.db.tables["account.move"].values()
        if m["state"] == "posted" and m["payment_state"] == "not_paid"
    )
    before = len(odoo.app.requests)
    odoo.db.update(
        "account.move",
        [target["id"]],
        {"payment_state": "paid", "amount_residual": 0.0},
        write_date="2026-12-02 09:00:00",
    )
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "ok"
    assert _receivable(app, target["id"]).status == "paid"
    # The delta read only what changed (plus the overlap window), not everything again.
    assert report.entities["receivables"].records < 10
    assert len(odoo.app.requests) - before < 15


def test_long_transaction_committed_late_is_caught_by_the_overlap(app, box, odoo):
    add_odoo_source(app, box, odoo)
    sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    open_moves = [
        m for m in odoo.db.tables["account.move"].values() if m["payment_state"] == "not_paid"
    ]
    first, late = open_moves[0], open_moves[1]
    odoo.db.update(
        "account.move", [first["id"]], {"amount_residual": 1.0}, write_date="2026-12-02 10:00:00"
    )
    sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)  # the cursor is now at 10:00
    # A transaction that started at 09:55 commits only now: its write_date is older than the
    # cursor. A plain `write_date > cursor` would miss it; the 15-minute overlap does not.
    odoo.db.update(
        "account.move",
        [late["id"]],
        {"payment_state": "paid", "amount_residual": 0.0},
        write_date="2026-12-02 09:55:00",
    )
    sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert _receivable(app, late["id"]).status == "paid"
    assert _receivable(app, first["id"]).amount_open == Decimal("1.0")


@pytest.mark.parametrize("fault", ["http500", "malformed"])
def test_outage_leaves_cursor_untouched_and_marks_the_source_failing(app, box, odoo, fault):
    add_odoo_source(app, box, odoo)
    sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    with app.factory() as s:
        before = {c.entity: dict(c.position) for c in s.scalars(select(SyncCursor))}
    odoo.app.inject(fault, count=100)
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "failing"
    with app.factory() as s:
        source = s.scalar(select(Source))
        assert source.status == "failing"
        assert "500" in source.status_detail or "malformed" in source.status_detail
        assert {c.entity: dict(c.position) for c in s.scalars(select(SyncCursor))} == before
    odoo.app.faults.clear()
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "ok"


def test_transient_errors_are_retried_with_backoff(app, box, odoo):
    add_odoo_source(app, box, odoo)
    waits = []
    odoo.app.inject("http500", count=2)
    (report,) = sync_sources(app.factory, box, "acme", sleep=waits.append)
    assert report.status == "ok"
    assert waits == [0.5, 1.0]


def test_timeout_is_the_configured_one(app, box, odoo):
    add_odoo_source(app, box, odoo, timeout_seconds=0.3)
    odoo.app.inject("hang", count=10, seconds=1.0)
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "failing"
    assert "timed out after 0.3s" in report.detail


def test_refused_credentials_fail_at_once_without_retry(app, box, odoo):
    odoo.users["dunlin"] = (6, "changed", "other-key")
    add_odoo_source(app, box, odoo)
    waits = []
    (report,) = sync_sources(app.factory, box, "acme", sleep=waits.append)
    assert report.status == "failing"
    assert waits == []
    assert "secret" not in report.detail


def test_one_failing_source_does_not_stop_the_others(app, box, odoo):
    add_odoo_source(app, box, odoo, name="a-broken", url="http://127.0.0.1:9")
    add_odoo_source(app, box, odoo, name="b-good")
    broken, good = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert (broken.status, good.status) == ("failing", "ok")
    assert "cannot reach" in broken.detail


def test_invalid_records_are_skipped_counted_and_the_page_commits(app, box, odoo):
    add_odoo_source(app, box, odoo)
    bad = next(iter(odoo.db.tables["account.move"].values()))
    odoo.db.update("account.move", [bad["id"]], {"invoice_date_due": False})
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "ok"
    assert report.skipped == 1
    assert any(str(bad["id"]) in line and "due_on" in line for line in report.skipped_sample)
    assert _count(app, Receivable) == len(odoo.db.tables["account.move"]) - 1
    with app.factory() as s:
        assert s.scalar(select(Source)).last_report["skipped"] == 1


def test_reconcile_closes_receivables_deleted_in_odoo(app, box, odoo):
    add_odoo_source(app, box, odoo)
    sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    victim = next(
        m
        for m in odoo.db.tables["account.move"].values()
        if m["state"] == "posted" and m["payment_state"] == "not_paid"
    )
    odoo.db.delete("account.move", [victim["id"]])
    (report,) = sync_sources(app.factory, box, "acme", full=True, sleep=NO_SLEEP)
    assert report.reconciled == 1
    assert _receivable(app, victim["id"]).status == "cancelled"


def test_sources_are_tenant_scoped(app, box, odoo):
    add_odoo_source(app, box, odoo, org="other")
    assert sync_sources(app.factory, box, "acme", sleep=NO_SLEEP) == []
    sync_sources(app.factory, box, "other", sleep=NO_SLEEP)
    with app.factory() as s:
        acme = get_org(s, "acme").id
        assert s.scalar(select(func.count()).where(Customer.org_id == acme)) == 0


def test_a_payment_in_odoo_cancels_the_planned_reminder(app, box, odoo):
    from datetime import date

    from reminders.models import Reminder
    from reminders.planning.planner import plan

    add_odoo_source(app, box, odoo)
    sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    plan(app.factory, "acme", date(2026, 12, 1))
    with app.factory() as s:
        reminder = s.scalar(select(Reminder).where(Reminder.status == "planned"))
        target = s.get(Receivable, reminder.target_receivable_id)
    odoo.db.update(
        "account.move",
        [int(target.external_id)],
        {"payment_state": "in_payment", "amount_residual": 0.0},
        write_date="2026-12-01 08:00:00",
    )
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.reminders_cancelled >= 1
    with app.factory() as s:
        assert s.get(Reminder, reminder.id).status == "cancelled"


def test_credentials_never_reach_the_logs(app, box, odoo, caplog):
    import logging

    from dunlin.log import redacting_filter

    add_odoo_source(app, box, odoo, url="http://127.0.0.1:9")
    logging.getLogger().addFilter(redacting_filter)
    caplog.handler.addFilter(redacting_filter)
    with caplog.at_level(logging.DEBUG):
        sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
        logging.getLogger("probe").warning("connecting with password secret")
    assert "secret" not in caplog.text.replace("password ***", "")
    assert "password ***" in caplog.text


def test_an_unknown_payment_state_stays_open_through_the_reconcile(app, box, odoo):
    """An Odoo version or module may add payment states; the mapping keeps unknown ones open,
    and the reconcile's listing of open invoices must agree, or each reconcile would close
    the invoice (and stop its reminders) and the next sync reopen it."""
    unusual = next(
        m
        for m in odoo.db.tables["account.move"].values()
        if m["state"] == "posted" and m["payment_state"] == "not_paid" and m["amount_residual"]
    )
    unusual["payment_state"] = "awaiting_clearance"  # not one Odoo 16–19 ships
    add_odoo_source(app, box, odoo)
    (report,) = sync_sources(app.factory, box, "acme", full=True, sleep=NO_SLEEP)
    assert report.status == "ok"
    assert report.reconciled == 0
    assert _receivable(app, unusual["id"]).status == "open"


def test_the_reconcile_reads_again_an_invoice_paid_without_a_newer_write_date(app, box, odoo):
    """An invoice that left the open listing is read by id: paid is recorded as paid (its
    reminders stop, a thank-you can follow), not as cancelled; only one the source no longer
    has is cancelled."""
    from datetime import date

    from reminders.models import Reminder
    from reminders.planning.planner import plan

    add_odoo_source(app, box, odoo)
    sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    plan(app.factory, "acme", date(2026, 12, 1))
    with app.factory() as s:
        reminder = s.scalar(select(Reminder).where(Reminder.status == "planned"))
        paid = int(s.get(Receivable, reminder.target_receivable_id).external_id)
    deleted = next(
        m["id"]
        for m in odoo.db.tables["account.move"].values()
        if m["state"] == "posted" and m["payment_state"] == "not_paid" and m["id"] != paid
    )
    stamp = odoo.db.tables["account.move"][paid]["write_date"]  # no newer write_date
    odoo.db.update(
        "account.move", [paid], {"payment_state": "paid", "amount_residual": 0.0}, write_date=stamp
    )
    odoo.db.delete("account.move", [deleted])
    reconcile_due(app)
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "ok"
    assert report.reconciled == 2
    assert _receivable(app, paid).status == "paid"
    assert _receivable(app, paid).amount_open == Decimal("0")
    assert _receivable(app, deleted).status == "cancelled"
    with app.factory() as s:
        assert s.get(Reminder, reminder.id).status == "cancelled"
