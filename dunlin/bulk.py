"""Bulk upserts that work the same on SQLite and PostgreSQL (INSERT … ON CONFLICT)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def upsert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    update: Sequence[str],
    overrides: Callable[[Any], dict[str, Any]] | None = None,
) -> None:
    """Insert rows; on a key conflict overwrite only the `update` columns.

    Columns not in `update` (e.g. a pause a customer set through Dunlin) survive a re-sync.
    `overrides(insert)` may return SET expressions that replace plain overwrites.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    set_ = {name: insert.excluded[name] for name in update}
    if overrides is not None:
        set_.update(overrides(insert))
    stmt = insert.on_conflict_do_update(index_elements=list(key), set_=set_)
    session.execute(stmt, list(rows))


def insert_ignoring_conflicts(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], key: Sequence[str]
) -> int:
    """Insert rows, skipping any whose unique key exists: how idempotent planning is enforced."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    stmt = insert.on_conflict_do_nothing(index_elements=list(key)).returning(table.c.id)
    # RETURNING counts what was really inserted; executemany rowcounts differ between drivers.
    return len(session.execute(stmt, list(rows)).all())
