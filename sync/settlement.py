"""How sync tells the layers above that receivables stopped being open, without knowing them.

Sync sits below reminders, so it cannot cancel reminders itself. The composition root
(`usecases.wiring.wire`) registers the reminders ledger here once per process; sync calls
`settled()` inside the same transaction that records the payment, so a reminder never outlives
its invoice (ARCHITECTURE invariant 2). An unwired process refuses to sync rather than leave
reminders running for money no longer owed.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session


class SettledListener(Protocol):
    def __call__(
        self,
        session: Session,
        org_id: int,
        source_id: int | None = None,
        external_ids: list[str] | None = None,
        settled_ids: list[int] | None = None,
    ) -> int: ...


_listeners: list[SettledListener] = []


def on_settled(listener: SettledListener) -> None:
    """Register what must happen, in the caller's transaction, when receivables settle."""
    if listener not in _listeners:
        _listeners.append(listener)


class NotWired(RuntimeError):
    """Sync ran in a process whose composition root registered no settlement listener."""


def settled(
    session: Session,
    org_id: int,
    source_id: int | None = None,
    external_ids: list[str] | None = None,
    settled_ids: list[int] | None = None,
) -> int:
    """Announce receivables that are no longer open; returns what the listeners stopped."""
    if not _listeners:
        raise NotWired(
            "no settlement listener is wired (usecases.wiring.wire): reminders would outlive "
            "payments"
        )
    return sum(
        listener(session, org_id, source_id, external_ids, settled_ids) for listener in _listeners
    )
