"""Bulk inserts that skip existing keys report how many rows were really inserted, on both
stores and on both paths (executemany below COPY_THRESHOLD, COPY staging above it): planning
counts its new ledger rows and tasks with it. Plain bulk inserts (audit events) store what an
INSERT would, on both paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy
from sqlalchemy import select

from dunlin.app import App
from dunlin.bulk import (
    COPY_INSERT_THRESHOLD,
    COPY_THRESHOLD,
    analyze_after_bulk,
    insert_ignoring_conflicts,
    insert_rows,
)
from dunlin.db import transaction
from dunlin.events import event_row
from dunlin.models import Event, InboundDelivery
from dunlin.orgs import get_org

KEY = ("org_id", "endpoint", "delivery_id")


@pytest.mark.parametrize("size", [10, COPY_THRESHOLD + 50])
def test_only_the_rows_really_inserted_are_counted(app: App, size: int) -> None:
    table = InboundDelivery.__table__
    with transaction(app.factory) as s:
        org_id = get_org(s, "acme").id
        rows = [{"org_id": org_id, "endpoint": "e", "delivery_id": f"d{i}"} for i in range(size)]
        assert insert_ignoring_conflicts(s, table, rows[: size // 2], KEY) == size // 2

    with transaction(app.factory) as s:
        assert insert_ignoring_conflicts(s, table, rows, KEY) == size - size // 2
        assert insert_ignoring_conflicts(s, table, rows, KEY) == 0

    with app.factory() as s:
        assert s.query(InboundDelivery).count() == size


@pytest.mark.parametrize("size", [3, COPY_INSERT_THRESHOLD + 40])
def test_plain_bulk_inserts_store_what_an_insert_stores(app: App, size: int) -> None:
    beijing = timezone(timedelta(hours=8))
    at = datetime(2026, 3, 5, 9, 30, tzinfo=beijing)
    with transaction(app.factory) as s:
        org_id = get_org(s, "acme").id
        rows = [
            event_row(
                org_id,
                "reminder.sent",
                f"第 {i} 条 'quoted'\ttab\\back",
                at=at,
                actor="dispatcher",
                subject=("reminder", i) if i % 2 else None,
                data={"n": i, "名": ["a", None]} if i % 3 else None,
            )
            for i in range(size)
        ]
        insert_rows(s, Event.__table__, rows)
    with app.factory() as s:
        stored = s.scalars(select(Event).order_by(Event.id)).all()
    assert len(stored) == size
    for i, event in enumerate(stored):
        assert event.at == at and event.at.tzinfo == UTC  # stored as UTC, read back aware
        assert event.summary == f"第 {i} 条 'quoted'\ttab\\back"
        assert (event.subject_type, event.subject_id) == (
            ("reminder", i) if i % 2 else (None, None)
        )
        assert event.data == ({"n": i, "名": ["a", None]} if i % 3 else {})


@pytest.mark.parametrize("size", [3, COPY_INSERT_THRESHOLD + 40])
def test_a_naive_datetime_is_refused_on_both_paths(app: App, size: int) -> None:
    with pytest.raises(Exception, match="naive datetime"), transaction(app.factory) as s:
        org_id = get_org(s, "acme").id
        naive = datetime(2026, 3, 5, 9, 30)
        insert_rows(s, Event.__table__, [event_row(org_id, "k", "", at=naive)] * size)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # statistics are PostgreSQL's
def test_statistics_are_refreshed_only_after_a_write_that_changes_a_tenth(app: App) -> None:
    table = InboundDelivery.__table__
    with transaction(app.factory) as s:
        org_id = get_org(s, "acme").id
        rows = [{"org_id": org_id, "endpoint": "e", "delivery_id": f"d{i}"} for i in range(20_000)]
        insert_ignoring_conflicts(s, table, rows, KEY)
    analyzed: list[str] = []

    def capture(_conn, _cursor, statement, *_args):
        if statement.startswith("ANALYZE"):
            analyzed.append(statement)

    sqlalchemy.event.listen(app.engine, "before_cursor_execute", capture)
    try:
        with app.factory() as s:
            analyze_after_bulk(s, 20_000, table.name)  # loaded since its last ANALYZE
            analyze_after_bulk(s, 1_500, table.name)  # 7.5% of what it now knows: kept
            analyze_after_bulk(s, 2_500, table.name)  # 12.5%
            analyze_after_bulk(s, 500, table.name)  # below ANALYZE_AFTER_ROWS
    finally:
        sqlalchemy.event.remove(app.engine, "before_cursor_execute", capture)
    assert analyzed == [f"ANALYZE {table.name}"] * 2
