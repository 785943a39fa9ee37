"""AutocommitStatement on the real PostgreSQL: values bound as SQLAlchemy binds them, the
statement committed on its own, the pooled connection handed back as the pool lent it, and a
connection the server dropped replaced."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import bindparam, create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from dunlin import db
from dunlin.oneshot import AutocommitStatement

INSERT = text(
    "INSERT INTO oneshot_probe (amount, at) VALUES (:amount, :at) RETURNING id, amount, at"
).bindparams(bindparam("amount", type_=db.Money()), bindparam("at", type_=db.UTCDateTime()))


@pytest.fixture
def pg_engine(pg_database: str) -> Iterator[Engine]:
    engine = db.make_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS oneshot_probe"))
        conn.execute(
            text(
                "CREATE TABLE oneshot_probe (id serial PRIMARY KEY, amount numeric(20, 4),"
                " at timestamptz NOT NULL, CHECK (amount >= 0))"
            )
        )
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE oneshot_probe"))
    engine.dispose()


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM oneshot_probe")).scalar_one()


def test_values_are_bound_through_the_column_types_and_the_row_is_committed(
    pg_engine: Engine,
) -> None:
    statement = AutocommitStatement(INSERT, pg_engine.dialect)
    at = datetime(2026, 12, 2, 20, 0, tzinfo=timezone(timedelta(hours=8)))

    exact = "1234567890123456.1234"  # more digits than a float holds
    row = statement.run(pg_engine, {"amount": exact, "at": at})  # Money takes text too

    assert row is not None
    assert row[1:] == (Decimal(exact), at.astimezone(UTC))
    other = create_engine(pg_engine.url)  # another connection sees it: it was committed
    with other.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM oneshot_probe")).scalar_one() == 1
    other.dispose()


def test_a_naive_datetime_is_refused_as_the_column_type_refuses_it(pg_engine: Engine) -> None:
    statement = AutocommitStatement(INSERT, pg_engine.dialect)

    with pytest.raises(ValueError, match="naive"):
        statement.run(pg_engine, {"amount": 1, "at": datetime(2026, 12, 2)})


def test_the_pooled_connection_goes_back_out_of_autocommit(pg_engine: Engine) -> None:
    """The next user of the connection gets transactions again: its rollback undoes."""
    statement = AutocommitStatement(INSERT, pg_engine.dialect)
    statement.run(pg_engine, {"amount": 1, "at": db.utcnow()})

    with pg_engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None and driver.autocommit is False
        conn.execute(INSERT, {"amount": 2, "at": db.utcnow()})
        conn.rollback()
    assert _count(pg_engine) == 1


def test_a_failing_statement_raises_sqlalchemys_error_and_leaves_nothing_open(
    pg_engine: Engine,
) -> None:
    statement = AutocommitStatement(INSERT, pg_engine.dialect)

    with pytest.raises(IntegrityError) as raised:
        statement.run(pg_engine, {"amount": -1, "at": db.utcnow()})
    assert not raised.value.connection_invalidated

    with pg_engine.connect() as conn:
        info = conn.connection.dbapi_connection.info
        assert info.transaction_status == TransactionStatus.IDLE
        assert conn.connection.driver_connection.autocommit is False
    assert statement.run(pg_engine, {"amount": 3, "at": db.utcnow()}) is not None


def test_a_connection_the_server_dropped_is_invalidated_and_replaced(
    pg_engine: Engine, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 3600.0)  # no ping: the statement meets it
    statement = AutocommitStatement(INSERT, pg_engine.dialect)
    with pg_engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    killer = db.make_engine(pg_database)
    with killer.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    killer.dispose()

    with pytest.raises(OperationalError) as raised:
        statement.run(pg_engine, {"amount": 1, "at": db.utcnow()})
    assert raised.value.connection_invalidated

    assert statement.run(pg_engine, {"amount": 1, "at": db.utcnow()}) is not None
    assert _count(pg_engine) == 1


def test_it_is_for_postgresql_only() -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        AutocommitStatement(INSERT, create_engine("sqlite://").dialect)
