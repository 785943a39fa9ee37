"""Which time zone a customer's day is counted in: their own when it is a real zone, else the
org's. Planner, send-time guard, previews and the customer's self-service page all ask here, so
a customer with a misspelt zone is reminded, guarded and served on the same day everywhere."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@lru_cache(maxsize=1024)
def valid_timezone(name: str | None) -> bool:
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def customer_zone(customer_tz: str | None, org_tz: str) -> str:
    """The customer's zone if set and known, otherwise the org's."""
    return customer_tz if customer_tz and valid_timezone(customer_tz) else org_tz
