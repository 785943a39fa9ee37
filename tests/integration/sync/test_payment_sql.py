"""The payment statement PostgreSQL runs decides a receivable's new status and open amount in
SQL (one round trip); SQLite and the rest of Dunlin use `sync.payments.settle`. The two must
agree for every combination of old state and notice."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Connection

from dunlin.db import make_engine
from sync.payment_sql import SETTLE_SQL
from sync.payments import PaymentNotice, settle

STATUSES = ["open", "paid", "partial", "disputed", "cancelled", "written_off"]
# The settlement fragment reads `target`; here it is one made-up row.
QUERY = text(
    "WITH target AS (SELECT 1 AS id, 'INV/1' AS number, CAST(:old_status AS text) AS status,"
    " CAST(:old_amount AS numeric) AS amount_open), "
    + SETTLE_SQL.strip()
    + " SELECT status, amount_open FROM settled"
)
amounts = st.decimals(min_value=-1000, max_value=100_000, places=2, allow_nan=False)


@pytest.fixture(scope="module")
def pg(pg_database: str) -> Iterator[Connection]:
    engine = make_engine(pg_database)
    with engine.connect() as conn:
        yield conn
    engine.dispose()


@settings(max_examples=300, deadline=None)
@given(
    old_status=st.sampled_from(STATUSES),
    old_amount=amounts,
    amount=st.none() | amounts | st.just(Decimal(0)),
    status=st.none() | st.just("") | st.sampled_from(STATUSES),
)
def test_sql_settlement_agrees_with_python(
    pg: Connection, old_status: str, old_amount: Decimal, amount: Decimal | None, status: str
) -> None:
    notice = PaymentNotice("1", amount, status)
    values = {"old_status": old_status, "old_amount": old_amount, "amount": amount}
    row = pg.execute(QUERY, {**values, "status": status}).one()
    assert (row.status, row.amount_open) == settle(old_status, old_amount, notice)
