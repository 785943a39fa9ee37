"""Pooled PostgreSQL connections after the server dropped them: an idle connection is tested
and replaced before use; a connection used a moment ago is not tested (that round trip is what
a busy webhook saves), fails once, and the pool recovers on the next checkout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from dunlin import db


@pytest.fixture
def pg_engine(pg_database: str) -> Iterator[Engine]:
    engine = db.make_engine(pg_database)
    yield engine
    engine.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(pid: int, pg_database: str) -> None:
    killer = db.make_engine(pg_database)
    with killer.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    killer.dispose()


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    pg_engine: Engine, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend_pid(pg_engine)
    _terminate(first, pg_database)
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # everything counts as idle

    second = _backend_pid(pg_engine)  # no error reaches the caller

    assert second != first


def test_a_connection_used_a_moment_ago_is_not_pinged_and_the_pool_recovers(
    pg_engine: Engine, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend_pid(pg_engine)
    _terminate(first, pg_database)
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 3600.0)

    with pytest.raises(OperationalError) as raised:
        _backend_pid(pg_engine)
    assert raised.value.connection_invalidated

    assert _backend_pid(pg_engine) != first


def test_the_idle_test_leaves_no_transaction_open(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pooled connection goes to its user as the pool had it: not in a transaction, so an
    AUTOCOMMIT statement (the payment webhook's) can run on it."""
    _backend_pid(pg_engine)
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)

    with pg_engine.connect() as conn:
        assert conn.connection.dbapi_connection.info.transaction_status == TransactionStatus.IDLE
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
