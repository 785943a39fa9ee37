"""Queries every resource shares: one org's rows, keyset pages, 404 for anything else's."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from sync.models import Customer
from webhooks.api.auth import Principal
from webhooks.edge import refuse

T = TypeVar("T")


def owned(session: Session, model: type[T], row_id: int, principal: Principal) -> T:
    """The row if it is this org's (and, for sales, their customer's); else 404 — the same
    answer as for an id that does not exist, so ids of other orgs reveal nothing."""
    row = session.scalar(
        select(model).where(model.id == row_id, model.org_id == principal.org_id)  # type: ignore[attr-defined]  # T: a model with both
    )
    if row is None:
        refuse(404, "not_found", "not found / 未找到")
    if principal.role == "sales":
        customer_id = row.id if isinstance(row, Customer) else getattr(row, "customer_id", None)
        if customer_id is None or not _theirs(session, principal, customer_id):
            refuse(404, "not_found", "not found / 未找到")
    return row


def _theirs(session: Session, principal: Principal, customer_id: int) -> bool:
    found = session.scalar(
        select(Customer.id).where(
            Customer.id == customer_id,
            Customer.org_id == principal.org_id,
            Customer.salesperson_ref == principal.salesperson_ref,
        )
    )
    return found is not None


def sales_customers(principal: Principal) -> Any:
    """Customer ids a sales user may see (a subquery); None for other roles."""
    if principal.role != "sales":
        return None
    return select(Customer.id).where(
        Customer.org_id == principal.org_id, Customer.salesperson_ref == principal.salesperson_ref
    )


def page(
    session: Session, query: Select[Any], model: Any, after: int, limit: int
) -> tuple[list[Any], int | None]:
    rows = list(session.scalars(query.where(model.id > after).order_by(model.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)
