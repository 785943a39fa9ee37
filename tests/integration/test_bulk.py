"""Bulk inserts that skip existing keys report how many rows were really inserted, on both
stores and on both paths (executemany below COPY_THRESHOLD, COPY staging above it): planning
counts its new ledger rows and tasks with it."""

from __future__ import annotations

import pytest

from dunlin.app import App
from dunlin.bulk import COPY_THRESHOLD, insert_ignoring_conflicts
from dunlin.db import transaction
from dunlin.models import InboundDelivery
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
