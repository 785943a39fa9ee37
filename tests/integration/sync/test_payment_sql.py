"""The payment statement PostgreSQL runs decides a receivable's new status, open amount and
version in SQL (one round trip); SQLite and the rest of Dunlin use `usecases.payments.judge`. The
two must agree for every combination of old state, version and notice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Connection

from dunlin.db import make_engine
from usecases.payment_sql import SETTLE_SQL
from usecases.payments import PaymentNotice, judge

STATUSES = ["open", "paid", "partial", "disputed", "cancelled", "written_off"]
# The settlement fragment reads `target`; here it is one made-up row.
QUERY = text(
    "WITH target AS (SELECT 1 AS id, 'INV/1' AS number, CAST(:old_status AS text) AS status,"
    " CAST(:old_amount AS numeric) AS amount_open,"
    " CAST(:old_version AS timestamptz) AS source_updated_at), "
    + SETTLE_SQL.strip()
    + " SELECT outcome, status, amount_open, version FROM settled"
)
amounts = st.decimals(min_value=-1000, max_value=100_000, places=2, allow_nan=False)
# A few instants close together, so that older, equal and newer all come up often.
BASE = datetime(2026, 5, 1, 8, tzinfo=UTC)
versions = st.none() | st.integers(0, 3).map(lambda k: BASE + timedelta(seconds=k))


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
    old_version=versions,
    version=versions,
    reopen=st.booleans(),
)
def test_sql_settlement_agrees_with_python(
    pg: Connection,
    old_status: str,
    old_amount: Decimal,
    amount: Decimal | None,
    status: str,
    old_version: datetime | None,
    version: datetime | None,
    reopen: bool,
) -> None:
    notice = PaymentNotice("1", amount, status, version, reopen)
    values = {"old_status": old_status, "old_amount": old_amount, "amount": amount}
    values |= {"old_version": old_version, "version": version, "reopen": reopen}
    row = pg.execute(QUERY, {**values, "status": status}).one()
    after = judge(old_status, old_amount, old_version, notice)
    assert tuple(row) == (after.outcome, after.status, after.amount_open, after.version)
