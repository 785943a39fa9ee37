"""The composition root: connects the packages that must not import each other.

Every entry point calls `wire()` before it does any work: the CLI, the web app, the RQ
workers (through the CLI) and the test suite. It is idempotent.
"""

from __future__ import annotations

from reminders.ledger import cancel_for_settled
from sync.settlement import on_settled


def wire() -> None:
    on_settled(cancel_for_settled)
