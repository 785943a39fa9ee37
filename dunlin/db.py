"""Database engine, session factory and the column types every package shares.

Money is stored exactly: NUMERIC on PostgreSQL, canonical decimal text on SQLite (which has
no decimal type; its NUMERIC affinity would round through a float).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    Numeric,
    String,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

# Integer primary keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    if TYPE_CHECKING:
        # Every model here is mapped to one Table (none to a join or a select), so callers may
        # hand __table__ to insert/upsert helpers; SQLAlchemy types it as any FromClause.
        __table__: ClassVar[Table]


class Money(TypeDecorator[Decimal]):
    """Exact decimal amounts on every backend."""

    impl = Numeric(20, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(20, 4))

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        value = Decimal(value)
        return format(value, "f") if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None or isinstance(value, Decimal):  # psycopg already returns Decimal
            return value
        return Decimal(value)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes in and out, also on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def same_org(org_column: Any, org_id: int) -> ColumnElement[bool]:
    """The tenant condition for a lookup by a list of primary keys, written so that it filters
    the rows found by key and is never the way to find them.

    With `org_id = ?` both databases may walk an index that starts with org_id, every row of the
    org, instead of fetching the few keys asked for: SQLite always did so without statistics,
    PostgreSQL on statistics taken before a bulk load. At 100,000 reminders that was 10–15 ms a
    statement, several statements for every chunk of a send. An expression over the column
    cannot use an index; `+ 0` is the form SQLite's documentation gives for it ("Manual control
    of query plans"), and PostgreSQL treats it the same."""
    return (org_column + 0) == org_id


def among_ids(column: Any, ids: Sequence[int], dialect: str) -> ColumnElement[bool]:
    """`column IN ids` as one parameter: an array on PostgreSQL (`= ANY`), a JSON list read by
    `json_each` on SQLite. A thousand-parameter IN list cost SQLAlchemy and psycopg more to
    render and parse than the database took to answer, and each length was a new statement;
    both forms here are found through the column's index the same way. (`json_each` is one of
    SQLite's JSON functions, built in since 3.38 and in nearly every earlier build.)"""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(BigInteger)))
    values = func.json_each(bindparam(None, json.dumps(list(ids)))).table_valued("value")
    return column.in_(select(values.c.value))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url)
    event.listen(engine, "checkin", _note_idle)
    event.listen(engine, "checkout", partial(_ping_if_idle, engine.dialect))
    return engine


# A pooled connection is tested before use only when it sat idle this long. SQLAlchemy's
# pool_pre_ping tests on every checkout: a round trip per request that a busy webhook worker,
# reusing its connection every few milliseconds, pays for nothing. A connection that dies
# within this window fails its statement instead; SQLAlchemy then invalidates the pool.
IDLE_PING_SECONDS = 1.0


def _note_idle(_dbapi_conn: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dialect: Dialect, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """Pessimistic disconnect handling, as SQLAlchemy documents it for a checkout listener:
    a dead connection raises InvalidatePoolError, and the pool retries with a new one.

    The dialect's own ping, not a bare SELECT: psycopg would open a transaction for that, and
    the connection would reach its user INTRANS, where switching it to AUTOCOMMIT (the
    payment webhook's one statement) fails. The dialect pings in autocommit mode."""
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
        return  # new, or used a moment ago
    try:
        dialect.do_ping(dbapi_conn)
    except Exception as exc:  # whatever the driver raises for a closed socket
        raise InvalidatePoolError(f"idle connection is gone: {exc}") from exc


@contextmanager
def sqlite_writer_turn(engine: Engine) -> Iterator[None]:
    """On SQLite, wait for this process's turn to write (an exclusive flock on a file beside
    the database) before opening a write transaction.

    Two gunicorn workers writing the same file otherwise meet in SQLite's busy handler, which
    sleeps 1, 2, 5 … up to 100 ms between tries and never notices the lock being freed (py-spy
    caught workers asleep there under load; Odoo gives up after 1 s). The kernel wakes a flock
    waiter the moment the lock is released. It did not end the occasional stalled SQLite run
    of bench/webhooks, whose cause is still open (docs/performance.md). Taken before the
    transaction, while holding no database lock, so it cannot close a deadlock cycle; writers
    that do not take it (workers, syncs) still meet the busy timeout as before. A no-op on other
    databases and in memory."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    fd = os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory() as session, session.begin():
        yield session
