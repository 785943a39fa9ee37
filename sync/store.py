"""Writing synced records: bulk upserts keyed by (org, source, external id), shared by the
spreadsheet importer and the API sync engine."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from dunlin.bulk import upsert_rows
from sync.models import Customer, Receivable

KEY = ("org_id", "source_id", "external_id")
CUSTOMER_DEFAULTS: dict[str, Any] = {
    "tier": "B",
    "tags": [],
    "channel_preferences": [],
    "opted_out_channels": [],
    "do_not_remind": False,
}
RECEIVABLE_DEFAULTS: dict[str, Any] = {"do_not_remind": False}


def complete(record: dict[str, Any], fields: list[str], defaults: dict[str, Any]) -> dict[str, Any]:
    """Every row of an executemany needs the same keys; blanks become defaults or NULL."""
    return {name: record.get(name, defaults.get(name)) for name in fields}


def upsert_customers(session: Session, rows: list[dict[str, Any]], fields: list[str]) -> None:
    upsert_rows(session, Customer.__table__, rows, key=KEY, update=[*fields, "updated_at"])


def upsert_receivables(session: Session, rows: list[dict[str, Any]], fields: list[str]) -> None:
    table = Receivable.__table__

    def keep_disputes(insert: Any) -> dict[str, Any]:
        # A dispute recorded in Dunlin survives a re-sync that still says "open".
        return {
            "status": case(
                (
                    (table.c.status == "disputed") & (insert.excluded.status == "open"),
                    "disputed",
                ),
                else_=insert.excluded.status,
            )
        }

    upsert_rows(
        session,
        table,
        rows,
        key=KEY,
        update=[*fields, "customer_id", "updated_at"],
        overrides=keep_disputes,
    )


def customer_ids(
    session: Session, org_id: int, source_id: int, external_ids: Iterable[str]
) -> dict[str, int]:
    wanted = list(dict.fromkeys(external_ids))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        rows = session.execute(
            select(Customer.external_id, Customer.id).where(
                Customer.org_id == org_id,
                Customer.source_id == source_id,
                Customer.external_id.in_(chunk),
            )
        )
        found.update(dict(rows.tuples().all()))
    return found
