"""Every status a reminder row can hold, and the sets the ledger's rules are written in.

The one place these words are spelled: reminders/ledger.py builds every transition (and the
payment webhook's SQL) from them, and tests/unit/reminders/test_ledger_vocabulary.py fails on
a reminder status written as a literal anywhere else. Plain `str` constants rather than an
Enum: drivers (psycopg) may write an Enum member by its name, and the column holds the value.

planned → queued → sending → sent → delivered → read → clicked / replied; sent → failed (a
receipt); planned|queued → cancelled | suppressed (with a reason); sending (lease lost, or the
provider's answer lost) → uncertain. Every transition is an event `reminder.<status>`.
"""

from __future__ import annotations

from typing import Final

PLANNED: Final = "planned"  # waiting for its time (or held back: a rate limit, a broken channel)
QUEUED: Final = "queued"  # handed to an RQ job (its id is on the row), not yet claimed
SENDING: Final = "sending"  # claimed by a worker under a lease; the send may be under way
SENT: Final = "sent"  # the provider accepted it
DELIVERED: Final = "delivered"
READ: Final = "read"
CLICKED: Final = "clicked"
REPLIED: Final = "replied"
FAILED: Final = "failed"  # refused for good (or a receipt said it never arrived)
CANCELLED: Final = "cancelled"  # stopped before it was claimed (paid, opted out, vetoed, ...)
SUPPRESSED: Final = "suppressed"
UNCERTAIN: Final = "uncertain"  # the send began and its outcome is unknown: never resent

ALL: Final = (
    PLANNED,
    QUEUED,
    SENDING,
    SENT,
    DELIVERED,
    READ,
    CLICKED,
    REPLIED,
    FAILED,
    CANCELLED,
    SUPPRESSED,
    UNCERTAIN,
)

# Not yet claimed by a worker: what a claim takes and what settling an invoice cancels.
CLAIMABLE: Final = (PLANNED, QUEUED)
# Claimed: a worker may be talking to the provider right now.
IN_FLIGHT: Final = (SENDING,)
# Not yet sent, nor given up: what a payment locks (CLAIMABLE to cancel, IN_FLIGHT to report).
OPEN: Final = CLAIMABLE + IN_FLIGHT
# The dispatcher is done with the row; only receipts (or a person) move it on from here.
FINAL: Final = tuple(s for s in ALL if s not in OPEN)
# The message left, in the order receipts move it forward (never back).
PROGRESS: Final = (SENT, DELIVERED, READ, CLICKED, REPLIED)
# A receipt may still say `failed`: nothing has confirmed delivery yet.
ACCEPTS_FAILURE: Final = (SENT, UNCERTAIN)
# Stopped without reaching anyone; every other status counts against frequency caps.
STOPPED: Final = (FAILED, CANCELLED, SUPPRESSED)
CAPPED: Final = tuple(s for s in ALL if s not in STOPPED)


def event_kind(status: str) -> str:
    """The audit event a transition into `status` writes."""
    return f"reminder.{status}"
