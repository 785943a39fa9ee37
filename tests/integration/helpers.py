"""Small builders for integration tests (and benchmarks): a sheet on disk in the shipped generic
mapping's layout, a planned ledger row."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from reminders.models import Reminder
from sync.models import Receivable

HEADER = [
    "Customer ID",
    "Customer",
    "Email",
    "Mobile",
    "Language",
    "Tier",
    "Tags",
    "Salesperson",
    "Salesperson ID",
    "WeCom ID",
    "Invoice",
    "Currency",
    "Amount",
    "Open Amount",
    "Invoice Date",
    "Due Date",
    "Payment Link",
]


def row(
    customer: str,
    invoice: str,
    due: str,
    amount: str = "100.00",
    open_amount: str = "",
    **extra: str,
) -> dict[str, str]:
    base = {h: "" for h in HEADER}
    base.update(
        {
            "Customer ID": customer,
            "Customer": f"Customer {customer}",
            "Email": f"{customer.lower()}@x.cn",
            "Invoice": invoice,
            "Amount": amount,
            "Open Amount": open_amount,
            "Due Date": due,
            "Currency": "CNY",
            "Salesperson": "张伟",
        }
    )
    base.update(extra)
    return base


def write_sheet(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


def planned_reminder(
    session: Session,
    invoice: Receivable,
    recipient: str,
    scheduled_at: datetime,
    *,
    step: str = "d7",
    planned_on: date | None = None,
) -> Reminder:
    """A planned e-mail reminder for the invoice (flushed: it has its id)."""
    reminder = Reminder(
        org_id=invoice.org_id,
        customer_id=invoice.customer_id,
        target_receivable_id=invoice.id,
        receivable_ids=[invoice.id],
        idempotency_key=f"r{invoice.id}:{step}:email",
        policy="default",
        track="default",
        step=step,
        channel="email",
        template="reminder",
        recipient=recipient,
        currency=invoice.currency,
        amount_open=invoice.amount_open,
        status="planned",
        scheduled_at=scheduled_at,
        planned_on=planned_on or date.today(),
    )
    session.add(reminder)
    session.flush()
    return reminder
