"""K3Cloud sync end to end over real HTTP: signatures, sessions, plan lines, write-offs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from connectors.base import SourceAuthError, TaskRequest
from connectors.kingdee import KingdeeConnector
from mappings import load_mapping, resolve
from sync.models import Customer, Receivable, Source
from sync.run import sync_sources
from tests.integration.sync.conftest import add_k3_source, reconcile_due

NO_SLEEP = lambda _s: None  # noqa: E731


def _receivables(app):
    with app.factory() as s:
        return {r.number: r for r in s.scalars(select(Receivable))}


@pytest.mark.parametrize("page_size", [2000, 3])
def test_full_sync_folds_plan_lines_into_open_amounts(app, box, k3cloud, page_size):
    # A page of 3 rows splits bills across pages: a bill must never be read half.
    add_k3_source(app, box, k3cloud, page_size=page_size)
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "ok", report.detail
    bills = k3cloud.forms["AR_receivable"]
    receivables = _receivables(app)
    assert len(receivables) == len(bills)
    for bill in bills.values():
        rec = receivables[bill["FBillNo"]]
        expected = sum(
            Decimal(str(p["FPAYAMOUNTFOR"])) - Decimal(str(p["FWRITTENOFFAMOUNTFOR_P"]))
            for p in bill["_plan"]
        )
        assert rec.amount_open == expected
        assert rec.currency == "CNY"
    first = next(iter(bills.values()))
    assert receivables[first["FBillNo"]].amount_open == Decimal("1300.0")
    assert receivables[first["FBillNo"]].due_on == date(2026, 11, 1)
    paid = [r for r in receivables.values() if r.status == "paid"]
    assert len(paid) == 1
    with app.factory() as s:
        customer = s.scalar(select(Customer).where(Customer.external_id == "C001"))
        assert customer.mobile == "+8613812345678" and customer.salesperson_name == "张伟"


def test_write_off_seen_by_the_next_incremental_sync(app, box, k3cloud):
    add_k3_source(app, box, k3cloud)
    sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    bill_id, bill = next(iter(k3cloud.forms["AR_receivable"].items()))
    k3cloud.write_off(bill_id, 0, 1000.0, modified="2026-12-02T10:00:00")
    k3cloud.write_off(bill_id, 1, 300.0, modified="2026-12-02T10:00:00")
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "ok"
    # Only what changed since the cursor (plus the newest bill, inside the overlap window).
    assert report.entities["receivables"].records == 2 < len(k3cloud.forms["AR_receivable"])
    assert _receivables(app)[bill["FBillNo"]].status == "paid"


def test_a_write_off_that_left_the_modified_date_is_paid_at_the_reconcile(app, box, k3cloud):
    """docs/reference/kingdee.md §4.9: a write-off may not touch FModifyDate (GUESS). The incremental
    sync cannot see it; the reconcile sees the bill leave the open listing, reads it by id
    and records it paid (not cancelled)."""
    add_k3_source(app, box, k3cloud)
    sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    bill_id, bill = next(
        (i, b) for i, b in k3cloud.forms["AR_receivable"].items() if b["FWRITTENOFFSTATUS"] == "A"
    )
    for line, plan in enumerate(bill["_plan"]):
        k3cloud.write_off(bill_id, line, plan["FPAYAMOUNTFOR"], modified=bill["FModifyDate"])
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.entities["receivables"].records < len(k3cloud.forms["AR_receivable"])
    assert _receivables(app)[bill["FBillNo"]].status == "open"  # not seen yet
    reconcile_due(app)
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "ok" and report.reconciled == 1
    assert _receivables(app)[bill["FBillNo"]].status == "paid"
    assert _receivables(app)[bill["FBillNo"]].amount_open == Decimal("0")


def test_a_partial_write_off_that_left_the_modified_date_is_seen_at_the_reconcile(
    app, box, k3cloud
):
    """The shipped mapping re-reads every open bill at the reconcile (reconcile_rereads_open):
    a bill still open, partly written off without a new FModifyDate, gets its amount."""
    add_k3_source(app, box, k3cloud)
    sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    bill_id, bill = next(
        (i, b)
        for i, b in k3cloud.forms["AR_receivable"].items()
        if b["FWRITTENOFFSTATUS"] == "A" and len(b["_plan"]) > 1
    )
    before = _receivables(app)[bill["FBillNo"]].amount_open
    k3cloud.write_off(bill_id, 0, 100.0, modified=bill["FModifyDate"])
    reconcile_due(app)
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "ok" and report.reconciled == 0
    after = _receivables(app)[bill["FBillNo"]]
    assert after.status == "open"
    assert after.amount_open == before - Decimal("100")


def test_a_full_sync_does_not_read_the_open_bills_again_by_id(app, box, k3cloud, monkeypatch):
    add_k3_source(app, box, k3cloud)
    sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    asked = []
    real = KingdeeConnector.read_records

    def counted(self, entity, external_ids):
        asked.extend(external_ids)
        return real(self, entity, external_ids)

    monkeypatch.setattr(KingdeeConnector, "read_records", counted)
    (report,) = sync_sources(app.factory, box, "acme", full=True, sleep=NO_SLEEP)
    assert report.status == "ok" and report.reconciled == 0
    assert asked == []  # it has just read every bill
    reconcile_due(app)
    sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    still_open = [
        b for b in k3cloud.forms["AR_receivable"].values() if b["FWRITTENOFFSTATUS"] != "C"
    ]
    assert len(asked) == len(still_open) > 0  # the daily reconcile reads each open bill


@pytest.mark.parametrize("auth", ["app_secret", "sign", "password"])
def test_session_logins_relogin_once_when_the_session_is_lost(app, box, k3cloud, auth):
    add_k3_source(app, box, k3cloud, auth=auth, page_size=3)
    connector = _connector(k3cloud, auth)
    first = connector.read_page("receivables", connector.begin("receivables", {}, full=True))
    k3cloud.expire_sessions()
    second = connector.read_page("receivables", first.cursor)
    assert second.records and k3cloud.logins == 2
    assert "kdservice-sessionid" in connector.client.session.cookies


def test_wrong_credentials_fail_without_a_login_loop(app, box, k3cloud):
    add_k3_source(app, box, k3cloud, auth="password")
    k3cloud.password = "changed-in-kingdee"
    waits = []
    (report,) = sync_sources(app.factory, box, "acme", sleep=waits.append)
    assert report.status == "failing" and "refused the login" in report.detail
    assert k3cloud.logins == 1 and waits == []


def test_a_bad_signature_is_an_auth_error_after_one_retry(k3cloud):
    connector = _connector(k3cloud, "signature", app_secret="f" * 32)
    with pytest.raises(SourceAuthError, match="fresh login"):
        connector.read_page("customers", connector.begin("customers", {}, full=True))
    executed = [p for _m, p in k3cloud.app.requests if p.endswith("ExecuteBillQuery.common.kdsvc")]
    assert len(executed) == 2


def test_test_names_every_field_key_the_tenant_lacks(tmp_path, k3cloud):
    text = resolve("kingdee-k3cloud").read_text()
    text = text.replace("  mobile: FTEL", "  mobile: FMOBILE").replace(
        "  number: FBillNo", "  number: F_xyz_BillNo"
    )
    path = tmp_path / "k.yaml"
    path.write_text(text)
    connector = _connector(k3cloud, "signature", mapping=str(path))
    info = connector.test()
    assert info.missing_fields == {"customers": ["FMOBILE"], "receivables": ["F_xyz_BillNo"]}
    assert info.capabilities["webhooks"] is False


def test_follow_ups_are_saved_into_the_configured_form(k3cloud):
    connector = _connector(k3cloud, "signature")
    bill_id = next(iter(k3cloud.forms["AR_receivable"]))
    note = connector.post_note("receivables", str(bill_id), "<p>sent by SMS [dunlin r1]</p>")
    log = k3cloud.forms["k1234_DUNNING_LOG"]
    assert log[int(note)]["F_DL_Text"] == "sent by SMS [dunlin r1]"
    assert log[int(note)]["F_DL_CustomerId"] == {"FNumber": "C001"}
    assert connector.find_note("receivables", str(bill_id), "[dunlin r1]") == note
    task = connector.create_task(
        TaskRequest(
            "receivables",
            str(bill_id),
            "Call the customer [dunlin t1]",
            "<p>x</p>",
            date(2026, 12, 5),
        )
    )
    assert (
        log[int(task)]["F_DL_Status"] == "open" and log[int(task)]["F_DL_DueDate"] == "2026-12-05"
    )
    connector.close_task(task)
    assert log[int(task)]["F_DL_Status"] == "closed"


def test_failing_source_status_is_visible(app, box, k3cloud):
    add_k3_source(app, box, k3cloud)
    k3cloud.app.inject("http500", count=50)
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP)
    assert report.status == "failing"
    with app.factory() as s:
        assert s.scalar(select(Source.status)) == "failing"


def _connector(fake, auth, app_secret=None, mapping="kingdee-k3cloud"):
    return KingdeeConnector(
        load_mapping(mapping),
        {"url": fake.url, "acct_id": fake.acct_id, "auth": auth, "rate_limit": 0, "page_size": 3},
        {
            "username": fake.username,
            "app_id": fake.app_id,
            "app_secret": app_secret or fake.app_secret,
            "password": fake.password,
        },
    )


def test_read_records_returns_the_named_bills_folded_as_they_are_now(k3cloud):
    """The live balance check's read: only the named bills, plan lines folded even when they
    span pages, a bill the filter no longer matches simply absent."""
    bills = list(k3cloud.forms["AR_receivable"].values())
    first, second = bills[0]["FID"], bills[2]["FID"]
    k3cloud.write_off(first, 0, 1000.0, "2026-11-20T09:00:00")
    connector = _connector(k3cloud, "signature")
    try:
        records = connector.read_records("receivables", [str(first), str(second), "999999"])
    finally:
        connector.close()
    by_id = {r["FID"]: r for r in records}
    assert set(by_id) == {first, second}
    assert Decimal(by_id[first]["OpenAmount"]) == Decimal("300.0")  # 1500 − 1000 − 200
    assert Decimal(by_id[second]["OpenAmount"]) == Decimal("150.0")  # 100 + 50
