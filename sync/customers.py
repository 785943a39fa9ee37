"""Finding an org's customers the way people name them: by external id or exact name.

One customer in the source may be several rows here (one per source that knows it), and two
customers may share a name, so a lookup answers every match, oldest first.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from sync.models import Customer


def named(ref: str) -> ColumnElement[bool]:
    """The condition "external id or exact name is `ref`", for queries that add their own
    (the admin API's list, which pages and scopes sales users)."""
    return or_(Customer.external_id == ref, Customer.name == ref)


def find_customers(session: Session, org_id: int, ref: str) -> list[Customer]:
    """The org's customers whose external id or exact name is `ref`, by id."""
    return list(
        session.scalars(
            select(Customer).where(Customer.org_id == org_id, named(ref)).order_by(Customer.id)
        )
    )
