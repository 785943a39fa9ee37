"""The sync's pipeline (fetch ahead, transform, write behind) against the fake Odoo over HTTP:
batches commit in order with their cursors, whatever fails and wherever."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

import sync.engine
from connectors.base import SourceUnavailable
from connectors.registry import open_connector
from sync.models import Receivable, SyncCursor
from sync.run import sync_sources
from tests.integration.sync.conftest import add_odoo_source

PAGE = 10  # the fake holds 120 invoices: 12 pages, written two pages a batch
NO_SLEEP = lambda _s: None  # noqa: E731


class Scripted:
    """The real connector, recording each receivables page it returns and failing from the
    `fail_from`-th read on (every retry too)."""

    def __init__(self, connector, fail_from: int | None = None) -> None:
        self.connector = connector
        self.fail_from = fail_from
        self.cursors: list[dict] = []
        self.ids: list[str] = []  # the receivables' ids in the order they were read

    def __getattr__(self, name):
        return getattr(self.connector, name)

    def read_page(self, entity, cursor, *, full):
        if entity == "receivables":
            if self.fail_from is not None and len(self.cursors) >= self.fail_from:
                raise SourceUnavailable("connection reset (scripted)")
            page = self.connector.read_page(entity, cursor, full=full)
            self.cursors.append(page.cursor)
            self.ids += [str(r["id"]) for r in page.records]
            return page
        return self.connector.read_page(entity, cursor, full=full)


class Opened(list):
    """The Scripted connectors `open` made, in order; `open` is the factory the sync takes."""

    def __init__(self, fail_from: int | None) -> None:
        super().__init__()
        self.fail_from = fail_from

    def open(self, *args, **kwargs) -> Scripted:
        self.append(Scripted(open_connector(*args, **kwargs), self.fail_from))
        return self[-1]


@pytest.fixture
def scripted(monkeypatch):
    def install(fail_from: int | None = None) -> Opened:
        return Opened(fail_from)

    monkeypatch.setattr(sync.engine, "WRITE_BATCH", 2 * PAGE)
    return install


def _receivables(app) -> int:
    with app.factory() as s:
        return s.scalar(select(func.count()).select_from(Receivable))


def _cursor(app, entity="receivables") -> dict:
    with app.factory() as s:
        return dict(s.scalar(select(SyncCursor).where(SyncCursor.entity == entity)).position)


def _pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("prefetch", "writer"))]


def test_a_fetch_failing_midway_keeps_every_batch_before_it_and_the_next_run_resumes(
    app, box, odoo, scripted
):
    add_odoo_source(app, box, odoo, page_size=PAGE)
    made = scripted(fail_from=5)  # pages 0-4 arrive: two whole batches, then one page
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP, open_connector=made.open)
    assert report.status == "failing"
    assert _receivables(app) == 5 * PAGE
    assert _cursor(app) == made[-1].cursors[4]  # the last page read, committed with its rows
    assert _pipeline_threads() == []

    made = scripted()
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP, open_connector=made.open)
    assert report.status == "ok"
    assert _receivables(app) == 120
    assert _cursor(app) == made[-1].cursors[-1]


def test_a_failed_write_commits_nothing_after_it(app, box, odoo, scripted, monkeypatch):
    add_odoo_source(app, box, odoo, page_size=PAGE)
    made = scripted()
    real_upsert = sync.engine.upsert_receivables
    calls = []

    def upsert_failing_third(session, rows, fields):
        calls.append(len(rows))
        if len(calls) == 3:
            raise RuntimeError("disk full (scripted)")
        return real_upsert(session, rows, fields)

    monkeypatch.setattr(sync.engine, "upsert_receivables", upsert_failing_third)
    with pytest.raises(RuntimeError, match="disk full"):
        sync_sources(app.factory, box, "acme", sleep=NO_SLEEP, open_connector=made.open)
    assert _receivables(app) == 2 * 2 * PAGE  # the two batches before the failed one
    assert _cursor(app) == made[-1].cursors[3]
    assert len(calls) == 3  # no batch was written after the failure
    assert _pipeline_threads() == []


def test_batches_are_written_in_order_one_at_a_time(app, box, odoo, scripted, monkeypatch):
    add_odoo_source(app, box, odoo, page_size=PAGE)
    made = scripted()
    real_upsert = sync.engine.upsert_receivables
    active, written, overlapped = [], [], []

    def upsert_watched(session, rows, fields):
        if active:
            overlapped.append(rows[0]["external_id"])
        active.append(1)
        written.extend(r["external_id"] for r in rows)
        try:
            return real_upsert(session, rows, fields)
        finally:
            active.pop()

    monkeypatch.setattr(sync.engine, "upsert_receivables", upsert_watched)
    (report,) = sync_sources(app.factory, box, "acme", sleep=NO_SLEEP, open_connector=made.open)
    assert report.status == "ok"
    assert report.entities["receivables"].records == 120
    assert report.entities["receivables"].pages == 12 + 1  # the last, empty page says done
    assert overlapped == []
    assert written == made[-1].ids  # in the order read
