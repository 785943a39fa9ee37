"""One PostgreSQL statement as its own transaction, run on the pooled driver connection.

The payment webhook runs one statement per request, and SQLAlchemy's Connection, execution
context and result objects around it were a third of the request's CPU (py-spy, in-process;
docs/performance.md). This keeps what matters of SQLAlchemy and drops the rest: the SQL and
the bind processors are SQLAlchemy's, compiled once for the engine's dialect; the pool still
checks connections out and in, pings idle ones (dunlin.db) and drops one that has
disconnected; errors still arrive as SQLAlchemy's exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.sql.elements import TextClause


class AutocommitStatement:
    """`run(engine, values)` executes the statement in autocommit mode (one round trip, no
    BEGIN or COMMIT) and returns its first row as a tuple, or None. PostgreSQL with psycopg
    only: the compiled SQL uses psycopg's paramstyle."""

    def __init__(self, statement: TextClause, dialect: Dialect) -> None:
        if dialect.name != "postgresql":
            raise ValueError("AutocommitStatement is for PostgreSQL")
        self.dialect = dialect
        compiled = statement.compile(dialect=self.dialect)
        self.sql = compiled.string
        self._processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(self.dialect).bind_processor(self.dialect)
            if processor is not None:
                self._processors[name] = processor

    def params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The values as SQLAlchemy would bind them (Money, UTCDateTime and friends)."""
        out = dict(values)
        for name, processor in self._processors.items():
            if name in out:
                out[name] = processor(out[name])
        return out

    def run(self, engine: Engine, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        params = self.params(values)
        pooled = engine.raw_connection()  # checkout listeners run: the idle ping included
        try:
            driver: Any = pooled.driver_connection
            driver.autocommit = True
            try:
                with driver.cursor() as cursor:
                    cursor.execute(self.sql, params)
                    return cursor.fetchone()
            finally:
                if not driver.closed:  # the next user of this connection expects transactions
                    driver.autocommit = False
        except self.dialect.loaded_dbapi.Error as error:
            disconnected = self.dialect.is_disconnect(error, pooled.dbapi_connection, None)
            if disconnected:
                pooled.invalidate(error)  # the pool opens a new one next time
            raise exc.DBAPIError.instance(
                self.sql,
                params,
                error,
                self.dialect.loaded_dbapi.Error,
                connection_invalidated=disconnected,
                dialect=self.dialect,
            ) from error
        finally:
            pooled.close()  # back to the pool; its reset finds no transaction to roll back
