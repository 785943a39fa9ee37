"""Small builders for integration tests: a sheet on disk in the shipped generic mapping's layout."""

from __future__ import annotations

import csv
from pathlib import Path

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
