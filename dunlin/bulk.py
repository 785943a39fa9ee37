"""Bulk upserts that work the same on SQLite and PostgreSQL (INSERT … ON CONFLICT).

On PostgreSQL large batches go through COPY into a temporary table and one
INSERT … SELECT … ON CONFLICT, which avoids a server round trip per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import JSON, Column, MetaData, Table, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import CallableColumnDefault, ScalarElementColumnDefault

COPY_THRESHOLD = 200  # below this, plain executemany is as fast and simpler
COPY_INSERT_THRESHOLD = 10  # COPY without staging (insert_rows); measured a gain at 50 rows

Overrides = Callable[[Any], dict[str, Any]]


ANALYZE_AFTER_ROWS = 1000
ANALYZE_FRACTION = 0.1  # autovacuum's default analyze_scale_factor: a tenth of the table


def analyze_after_bulk(session: Session, rows: int, *tables: str) -> None:
    """PostgreSQL: fresh statistics after a bulk write, in its own commit, for each table the
    write could have changed by a tenth or more (or never analyzed). Autovacuum would get there
    within a minute, but the next statements run at once: on a table loaded since its last
    ANALYZE, an UPDATE by primary key walked the (org, status) index instead (0.3 ms → 14 ms
    per batch at 20,000 rows, growing with the table). A smaller write leaves the statistics
    as they were: a 1% delta sync spent a third of its time analyzing both tables."""
    if rows < ANALYZE_AFTER_ROWS or session.get_bind().dialect.name != "postgresql":
        return
    known = text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)")
    stale = [
        table
        for table in tables
        if (size := session.scalar(known, {"name": table})) is None
        or size < 0  # never analyzed
        or rows >= ANALYZE_FRACTION * size
    ]
    if stale:
        session.execute(text(f"ANALYZE {', '.join(stale)}"))
    session.commit()


def _insert(session: Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _set_clause(insert: Any, update: Sequence[str], overrides: Overrides | None) -> dict[str, Any]:
    set_ = {name: insert.excluded[name] for name in update}
    if overrides is not None:
        set_.update(overrides(insert))
    return set_


def _bulk_insert(
    session: Session, table: Table, rows: Sequence[dict[str, Any]]
) -> tuple[Any, list[Any] | None]:
    """The INSERT for `rows` and its executemany parameters: on PostgreSQL, large batches are
    COPYed into a staging table and inserted with one INSERT … SELECT (no parameters)."""
    if session.get_bind().dialect.name == "postgresql" and len(rows) >= COPY_THRESHOLD:
        staging = _stage(session, table, rows)
        return postgresql.insert(table).from_select(list(rows[0]), select(*staging.c)), None
    return _insert(session, table), list(rows)


def upsert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    update: Sequence[str],
    overrides: Overrides | None = None,
    returning: Sequence[Column[Any]] = (),
    only_if: Callable[[Any], Any] | None = None,
) -> list[Any] | None:
    """Insert rows; on a key conflict overwrite only the `update` columns.

    Columns not in `update` (e.g. a pause a customer set through Dunlin) survive a re-sync.
    `overrides(insert)` may return SET expressions that replace plain overwrites.
    Rows must have the same keys, and unique values for `key` within one call.
    `returning`: the written rows' columns as stored, from the same statement, where the
    store gives them (PostgreSQL); None where it cannot (SQLite's DB-API executemany).
    `only_if(insert)`: a condition on the stored row and `insert.excluded`; a conflicting row
    for which it is false is left as it is (and not returned).
    """
    if not rows:
        return []
    insert, params = _bulk_insert(session, table, rows)
    stmt = insert.on_conflict_do_update(
        index_elements=list(key),
        set_=_set_clause(insert, update, overrides),
        where=None if only_if is None else only_if(insert),
    )
    if params is not None and session.get_bind().dialect.name == "sqlite":
        _sqlite_executemany(session, stmt, table, params)
        return None
    if not returning:
        session.execute(stmt, params)
        return None
    return list(session.execute(stmt.returning(*returning), params).tuples())


def _sqlite_executemany(
    session: Session, stmt: Any, table: Table, rows: Sequence[dict[str, Any]]
) -> int:
    """The statement compiled once, each column's bind processor looked up once, then one
    DB-API executemany: SQLAlchemy's per-row parameter handling costs more than SQLite's
    insert itself on large batches. Returns the rows changed (sqlite3's summed rowcount)."""
    connection = session.connection()
    dialect = connection.dialect
    defaults = _python_defaults(table, rows[0])
    if defaults:
        rows = [{**defaults, **row} for row in rows]
    names = list(rows[0])
    compiled = stmt.compile(dialect=dialect, column_keys=names)
    constants = compiled.construct_params(rows[0])
    slots: list[tuple[str | None, Any, Any]] = []  # (row key or None, constant, processor)
    for name in compiled.positiontup or ():
        bind = compiled.binds[name]
        processor = bind.type._cached_bind_processor(dialect)
        if name in names:
            slots.append((name, None, processor))
        else:
            slots.append((None, constants[name], processor))
    columns = []  # built column by column: one C-level map() per column, not per value
    for key, const, proc in slots:
        if key is None:
            columns.append([proc(const) if proc else const] * len(rows))
            continue
        values = [row[key] for row in rows]
        columns.append(list(map(_last_value_memo(proc), values)) if proc else values)
    params = list(zip(*columns, strict=True))
    driver: Any = connection.connection.driver_connection  # psycopg's, under the pool
    cursor = driver.cursor()
    try:
        cursor.executemany(compiled.string, params)
        return cursor.rowcount
    finally:
        cursor.close()


def insert_ignoring_conflicts(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], key: Sequence[str]
) -> int:
    """Insert rows, skipping any whose unique key exists: how idempotent planning is enforced.

    Returns how many were really inserted: RETURNING on PostgreSQL; on SQLite the DB-API
    executemany's rowcount, which sqlite3 sums over the executions (a skipped conflict
    changes nothing), without SQLAlchemy's per-row parameter handling for RETURNING (a third
    of a first planning run).
    """
    if not rows:
        return 0
    insert, params = _bulk_insert(session, table, rows)
    stmt = insert.on_conflict_do_nothing(index_elements=list(key))
    if params is not None and session.get_bind().dialect.name == "sqlite":
        return _sqlite_executemany(session, stmt, table, params)
    return len(session.execute(stmt.returning(table.c.id), params).all())


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Plain INSERT of rows that cannot conflict (audit events): on PostgreSQL, from
    COPY_INSERT_THRESHOLD rows, COPY straight into the table, values passed through each
    column's own bind processing (UTC check, JSON) as an INSERT would. For the 50 events of a
    dispatch chunk, 7.5 -> 4.9 ms a transaction against SQLAlchemy's executemany."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql" or len(rows) < COPY_INSERT_THRESHOLD:
        session.execute(table.insert(), list(rows))
        return
    defaults = _python_defaults(table, rows[0])
    names = list(rows[0]) + list(defaults)
    processors = [table.c[n].type.bind_processor(dialect) for n in names]

    def converted(row: dict[str, Any]) -> list[Any]:
        values = (row[n] if n in row else defaults[n] for n in names)
        return [v if p is None else p(v) for v, p in zip(values, processors, strict=True)]

    _copy(session, table.name, names, map(converted, rows))


def _last_value_memo(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Batches repeat values column-wise (org, source, the batch's timestamps): convert a value
    once while it repeats."""
    last: list[Any] = [object(), None]

    def convert(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, processor(value)
        return last[1]

    return convert


def _python_defaults(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """Column defaults SQLAlchemy would fill in for keys the rows leave out (once per batch)."""
    found: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if column.name in row or default is None or column.primary_key:
            continue
        if isinstance(default, ScalarElementColumnDefault):
            found[column.name] = default.arg
        elif isinstance(default, CallableColumnDefault):
            # SQLAlchemy wraps a default that takes no context in one that ignores it.
            found[column.name] = default.arg(None)  # type: ignore[arg-type]  # no context here
    return found


def _stage(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> Table:
    """COPY rows into a temporary table shaped like `table` (PostgreSQL only); returns it."""
    names = list(rows[0])
    staging = Table(
        f"staging_{table.name}",
        MetaData(),
        *(Column(n, table.c[n].type) for n in names),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    connection = session.connection()
    staging.create(connection, checkfirst=True)  # dropped at commit; reused by later batches
    json_columns = {n for n in names if isinstance(table.c[n].type, JSON)}
    session.execute(text(f'TRUNCATE "{staging.name}"'))
    _copy(
        session,
        staging.name,
        names,
        ([Json(row[n]) if n in json_columns else row[n] for n in names] for row in rows),
    )
    return staging


def _copy(
    session: Session, table_name: str, names: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """COPY rows of values, already in the driver's terms, into a table (PostgreSQL only)."""
    columns = ", ".join(f'"{n}"' for n in names)
    driver: Any = session.connection().connection.driver_connection  # psycopg's
    cursor = driver.cursor()
    try:
        with cursor.copy(f'COPY "{table_name}" ({columns}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()
