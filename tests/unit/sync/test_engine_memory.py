"""The sync engine against the in-memory connector: paging and cursors, deltas, a failing page,
the reconcile. No HTTP and no monkeypatching: the connector factory is handed in."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update

from connectors.base import SourceAuthError
from dunlin.crypto import SecretBox
from dunlin.db import transaction, utcnow
from dunlin.orgs import get_org
from sync.engine import RECONCILE
from sync.models import Customer, Receivable, SyncCursor
from sync.run import sync_sources
from sync.sources import add_source
from tests.fakes.memory_connector import MAPPING, MemoryConnector

NO_SLEEP = lambda _s: None  # noqa: E731


def invoice(n: int, state: str = "open", open_amount: int = 100) -> dict:
    return {
        "id": f"r{n}",
        "customer": f"c{n % 2}",
        "total": 100,
        "open": open_amount,
        "due": "2026-12-01",
        "state": state,
    }


@pytest.fixture
def box(settings) -> SecretBox:
    return SecretBox(settings.require_secret_key())


@pytest.fixture
def memory(app, box, tmp_path: Path) -> MemoryConnector:
    path = tmp_path / "memory.yaml"
    path.write_text(MAPPING, encoding="utf-8")
    with transaction(app.factory) as session:
        org_id = get_org(session, "acme").id
        add_source(session, box, org_id, "mem", "rest", str(path), {"url": "memory:"}, {"k": "v"})
    fake = MemoryConnector(page_size=2)
    fake.put("customers", {"id": "c0", "name": "Acme"}, {"id": "c1", "name": "上海某某"})
    fake.put("receivables", *(invoice(n) for n in range(1, 6)))
    return fake


def sync(app, box, memory, *, full: bool = False):
    (report,) = sync_sources(
        app.factory, box, "acme", full=full, sleep=NO_SLEEP, open_connector=memory.open
    )
    return report


def receivables(app) -> dict[str, tuple[str, Decimal]]:
    with app.factory() as session:
        rows = session.execute(
            select(Receivable.external_id, Receivable.status, Receivable.amount_open)
        )
        return {ext: (status, amount) for ext, status, amount in rows}


def cursor(app, entity: str) -> dict:
    with app.factory() as session:
        row = session.scalar(select(SyncCursor).where(SyncCursor.entity == entity))
        return dict(row.position) if row is not None else {}


def test_a_full_sync_pages_through_everything_and_stores_the_last_cursor(app, box, memory):
    report = sync(app, box, memory, full=True)
    assert report.status == "ok", report.detail
    assert report.records == 7
    assert report.entities["receivables"].pages == 3  # 2 + 2 + 1
    assert set(receivables(app)) == {f"r{n}" for n in range(1, 6)}
    with app.factory() as session:
        assert (
            session.scalar(select(Customer.name).where(Customer.external_id == "c1")) == "上海某某"
        )
    assert cursor(app, "receivables") == {"after": 7}  # the newest change read
    (opened,) = memory.opened
    assert opened.settings == {"url": "memory:"} and opened.credentials == {"k": "v"}
    assert memory.closes == 1


def test_a_delta_reads_only_what_changed_since_the_stored_cursor(app, box, memory):
    sync(app, box, memory)
    memory.reads.clear()
    memory.put("receivables", invoice(2, state="paid", open_amount=0))
    report = sync(app, box, memory)
    assert report.status == "ok" and report.records == 1
    assert [c for e, c in memory.reads if e == "receivables"] == [{"after": 7}]
    assert receivables(app)["r2"] == ("paid", Decimal(0))
    assert receivables(app)["r1"][0] == "open"
    assert cursor(app, "receivables") == {"after": 8}


def test_a_failing_page_keeps_the_pages_before_it_and_the_next_run_resumes(app, box, memory):
    memory.fail_page("receivables", 1)  # the first page arrives, then the source is down
    report = sync(app, box, memory)
    assert report.status == "failing" and "connection reset" in report.detail
    assert set(receivables(app)) == {"r1", "r2"}
    assert cursor(app, "receivables") == {"after": 4}  # r2's change, committed with its rows
    with app.factory() as session:
        assert session.scalar(
            select(SyncCursor.position).where(SyncCursor.entity == RECONCILE)
        ) in (None, {})

    memory.heal()
    memory.reads.clear()
    assert sync(app, box, memory).status == "ok"
    assert [c for e, c in memory.reads if e == "receivables"][0] == {"after": 4}
    assert set(receivables(app)) == {f"r{n}" for n in range(1, 6)}
    assert cursor(app, "receivables") == {"after": 7}


def test_a_refused_login_fails_the_source_without_touching_cursors(app, box, memory):
    sync(app, box, memory)
    memory.fail("begin", SourceAuthError("invalid token"))
    report = sync(app, box, memory)
    assert report.status == "failing" and "invalid token" in report.detail
    assert cursor(app, "receivables") == {"after": 7}


def _reconcile_due(app) -> None:
    with transaction(app.factory) as session:
        session.execute(
            update(SyncCursor)
            .where(SyncCursor.entity == RECONCILE)
            .values(updated_at=utcnow().replace(year=2000))
        )


@pytest.mark.parametrize("readable", [True, False])
def test_the_reconcile_rereads_what_the_source_stopped_listing_as_open(app, box, memory, readable):
    sync(app, box, memory)
    # Paid without a change the delta sees (a write-off), and one deleted from the source.
    memory.records["receivables"]["r2"].update(state="paid", open=0)
    memory.delete("receivables", "r3")
    memory.can_read_by_id = readable
    _reconcile_due(app)
    report = sync(app, box, memory)
    assert report.status == "ok" and report.entities["receivables"].records == 0
    assert report.reconciled == 2
    states = receivables(app)
    # Read by id, r2 is written as it is now; a source that cannot be read by id is believed.
    assert states["r2"] == (("paid", Decimal(0)) if readable else ("cancelled", Decimal(100)))
    assert states["r3"][0] == "cancelled"
    assert {states[f"r{n}"][0] for n in (1, 4, 5)} == {"open"}
