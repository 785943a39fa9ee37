"""Import a spreadsheet through a mapping: validate every row, upsert in batches.

All-or-nothing by default: everything happens in one transaction that is rolled back if any
row is invalid, and the error names each bad row and column. With `skip_invalid` the valid rows
are committed and the rejected ones are written to a rejects file with their reasons.
Re-importing upserts by (org, source, external id); rows absent from a later file are kept.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from connectors.spreadsheet import UncachedFormula, open_sheet
from dunlin.bulk import analyze_after_bulk
from dunlin.db import utcnow
from dunlin.errors import DunlinError
from dunlin.events import record_event
from dunlin.orgs import get_org
from mappings import load_mapping
from mappings.transform import FieldError, RowTransformer
from sync import settlement
from sync.sources import ensure_source
from sync.store import (
    CUSTOMER_DEFAULTS,
    RECEIVABLE_DEFAULTS,
    complete,
    customer_ids,
    upsert_customers,
    upsert_receivables,
)

BATCH = 5000


@dataclass
class Rejection:
    row: int
    errors: list[FieldError]
    raw: dict[str, Any]

    def describe(self) -> str:
        parts = []
        for e in self.errors:
            where = f"column {e.column!r} ({e.field})" if e.column else e.field
            parts.append(f"{where}: {e.message}")
        return f"row {self.row}: " + "; ".join(parts)


@dataclass
class ImportReport:
    path: Path
    source: str
    rows_read: int = 0
    customers: int = 0
    receivables: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    committed: bool = False
    rejects_path: Path | None = None
    reminders_cancelled: int = 0


class UnusableFile(DunlinError):
    """The file cannot be imported as a whole (columns missing, no data rows): a rejected
    import, like invalid rows, so it exits 3 as the README says."""

    exit_code = 3


class ImportRejected(DunlinError):
    """The file had invalid rows and nothing was imported."""

    exit_code = 3

    def __init__(self, report: ImportReport, shown: int = 20) -> None:
        self.report = report
        lines = [r.describe() for r in report.rejections[:shown]]
        more = len(report.rejections) - shown
        if more > 0:
            lines.append(f"… and {more} more rows")
        super().__init__(
            f"{report.path}: {len(report.rejections)} invalid row(s); nothing was imported "
            f"(use --skip-invalid to import the valid rows) / 有无效行，未导入任何数据:\n"
            + "\n".join(lines)
        )


class _Batch:
    """Rows waiting to be written; customers deduplicated by external id."""

    def __init__(self) -> None:
        self.customers: dict[str, dict[str, Any]] = {}
        self.receivables: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self.receivables) + len(self.customers)


class Importer:
    def __init__(
        self, session: Session, org_id: int, source_id: int, transformer: RowTransformer
    ) -> None:
        self.session = session
        self.org_id = org_id
        self.source_id = source_id
        self.t = transformer
        self.customer_ids: dict[str, int] = {}
        self._seen_customers: dict[str, list[Any]] = {}
        self.merged_customers: dict[str, dict[str, Any]] = {}
        self.customers_written = 0
        self.receivables_written = 0

    def flush(self, batch: _Batch) -> None:
        now = utcnow()
        fresh = []
        for ext_id, cust in batch.customers.items():
            fingerprint = list(cust.values())  # same key order for every row of this import
            if self._seen_customers.get(ext_id) == fingerprint:
                continue
            self._seen_customers[ext_id] = fingerprint
            fresh.append(
                {
                    **cust,
                    "org_id": self.org_id,
                    "source_id": self.source_id,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        upsert_customers(self.session, fresh, self.t.customer_fields)
        self.customers_written += len(fresh)
        unknown = [c for c in batch.customers if c not in self.customer_ids]
        self.customer_ids.update(customer_ids(self.session, self.org_id, self.source_id, unknown))
        rows = []
        for rec in batch.receivables.values():
            customer_id = self.customer_ids[rec.pop("_customer")]
            rows.append(
                {
                    **rec,
                    "org_id": self.org_id,
                    "source_id": self.source_id,
                    "customer_id": customer_id,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        upsert_receivables(self.session, rows, self.t.receivable_fields)
        self.receivables_written += len(rows)


def import_file(
    factory: sessionmaker[Session],
    org_slug: str,
    path: Path,
    mapping_name: str,
    *,
    source_name: str | None = None,
    skip_invalid: bool = False,
    rejects_path: Path | None = None,
    on_progress: Callable[[int], None] | None = None,
    batch_size: int = BATCH,
) -> ImportReport:
    mapping = load_mapping(mapping_name)
    sheet = open_sheet(path, mapping.settings)
    missing = sheet.missing_columns(mapping.columns())
    if missing:
        raise UnusableFile(
            f"{path}: column(s) missing for mapping {mapping.name!r}: {', '.join(missing)}; "
            f"the file has: {', '.join(h for h in sheet.header if h)} / 缺少映射所需的列"
        )
    source_name = source_name or mapping.name
    report = ImportReport(path=path, source=source_name)
    with factory() as session:
        session.begin()
        org = get_org(session, org_slug)
        source = ensure_source(session, org.id, source_name, "spreadsheet", mapping_name)
        transformer = RowTransformer(mapping, default_currency=org.currency)
        importer = Importer(session, org.id, source.id, transformer)
        customer_fields = transformer.customer_fields
        receivable_fields = transformer.receivable_fields
        batch = _Batch()
        formula_columns = transformer.column_fields if sheet.may_hold_formulas else {}
        for number, raw in sheet.rows:
            report.rows_read += 1
            unreadable = formula_columns and _uncached_formulas(raw, formula_columns)
            if unreadable:
                report.rejections.append(Rejection(number, unreadable, raw))
                continue
            result = transformer.transform(raw)
            if result.errors:
                report.rejections.append(Rejection(number, result.errors, raw))
                continue
            ext_id = result.customer["external_id"]
            # A customer repeated on many rows: later non-blank values win, blanks erase nothing.
            merged = importer.merged_customers.setdefault(ext_id, {})
            merged.update(result.customer)
            batch.customers[ext_id] = complete(merged, customer_fields, CUSTOMER_DEFAULTS)
            if result.receivable is not None:
                rec = complete(result.receivable, receivable_fields, RECEIVABLE_DEFAULTS)
                rec["_customer"] = ext_id
                batch.receivables[rec["external_id"]] = rec
            if len(batch) >= batch_size:
                importer.flush(batch)
                batch = _Batch()
            if on_progress and report.rows_read % 500 == 0:
                on_progress(report.rows_read)
        if report.rejections and not skip_invalid:
            session.rollback()
            raise ImportRejected(report)
        if report.rows_read == 0:
            session.rollback()
            raise UnusableFile(
                f"{path}: no data rows under the header; nothing was imported / "
                "文件只有表头，没有数据行，未导入任何内容"
            )
        importer.flush(batch)
        report.reminders_cancelled = settlement.settled(session, org.id)
        report.customers = importer.customers_written
        report.receivables = importer.receivables_written
        source.last_synced_at = utcnow()
        if report.rejections:
            report.rejects_path = rejects_path or path.with_name(path.stem + ".rejects.csv")
            write_rejects(report.rejects_path, sheet.header, report.rejections)
        record_event(
            session,
            org.id,
            "import.completed",
            f"imported {path.name}: {report.receivables} receivables, {report.customers} customers",
            subject=("source", source.id),
            data={"file": str(path), "rows": report.rows_read, "rejected": len(report.rejections)},
        )
        session.commit()
        report.committed = True
        analyze_after_bulk(session, report.rows_read, "customers", "receivables")
    if on_progress:
        on_progress(report.rows_read)
    return report


def _uncached_formulas(raw: dict[str, Any], columns: dict[str, str]) -> list[FieldError]:
    """A mapped cell whose formula was never calculated: its value is unknown, not blank."""
    return [
        FieldError(column, field, value.describe())
        for column, field in columns.items()
        if isinstance(value := raw.get(column), UncachedFormula)
    ]


def write_rejects(path: Path, header: list[str], rejections: list[Rejection]) -> None:
    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(["_row", "_errors", *header])
        for r in rejections:
            writer.writerow(
                [
                    r.row,
                    r.describe(),
                    *("" if r.raw.get(h) is None else r.raw.get(h) for h in header),
                ]
            )
