"""Spreadsheet import on both backends: all-or-nothing, rejects, idempotent re-import."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from dunlin.errors import DunlinError
from dunlin.models import Event
from sync.importer import ImportRejected, import_file
from sync.models import Customer, Receivable
from tests.integration.helpers import HEADER, row, write_sheet


def _count(app, model, org_slug="acme"):
    from dunlin.models import Org

    with app.factory() as s:
        org_id = s.scalar(select(Org.id).where(Org.slug == org_slug))
        return s.scalar(select(func.count()).select_from(model).where(model.org_id == org_id))


def _sixty_rows(bad_at: int | None = None) -> list[dict[str, str]]:
    rows = [row(f"C{i % 7}", f"INV-{i}", "2026-11-01", f"¥{i},000.00") for i in range(59)]
    if bad_at is not None:
        rows[bad_at - 2]["Due Date"] = "2026-13-45"  # sheet row = index + 2 (header is row 1)
    return rows


def test_import_then_reimport_is_idempotent(app, tmp_path):
    path = write_sheet(tmp_path / "ar.csv", _sixty_rows())
    report = import_file(app.factory, "acme", path, "spreadsheet")
    assert (report.rows_read, report.receivables, report.committed) == (59, 59, True)
    assert _count(app, Customer) == 7 and _count(app, Receivable) == 59
    import_file(app.factory, "acme", path, "spreadsheet")
    assert _count(app, Customer) == 7 and _count(app, Receivable) == 59
    with app.factory() as s:
        inv = s.scalar(select(Receivable).where(Receivable.external_id == "INV-12"))
    assert inv.amount_total == Decimal("12000.00") and inv.due_on == date(2026, 11, 1)


def test_bad_date_in_row_57_names_row_and_column_and_imports_nothing(app, tmp_path):
    path = write_sheet(tmp_path / "ar.csv", _sixty_rows(bad_at=57))
    with pytest.raises(ImportRejected) as info:
        import_file(app.factory, "acme", path, "spreadsheet")
    message = str(info.value)
    assert "row 57" in message and "'Due Date'" in message and "2026-13-45" in message
    assert _count(app, Receivable) == 0 and _count(app, Customer) == 0
    assert _count(app, Event) == 0


def test_skip_invalid_imports_the_rest_and_writes_rejects(app, tmp_path):
    path = write_sheet(tmp_path / "ar.csv", _sixty_rows(bad_at=57))
    report = import_file(app.factory, "acme", path, "spreadsheet", skip_invalid=True)
    assert _count(app, Receivable) == 58
    rejects = report.rejects_path.read_text(encoding="utf-8-sig").splitlines()
    assert rejects[0].startswith("_row,_errors,Customer ID")
    assert rejects[1].startswith("57,") and "Due Date" in rejects[1]


def test_row_missing_from_a_later_file_is_kept_and_changes_apply(app, tmp_path):
    first = write_sheet(
        tmp_path / "a.csv", [row("C1", "INV-1", "2026-11-01"), row("C1", "INV-2", "2026-11-02")]
    )
    import_file(app.factory, "acme", first, "spreadsheet")
    second = write_sheet(tmp_path / "b.csv", [row("C1", "INV-1", "2026-11-01", open_amount="0")])
    import_file(app.factory, "acme", second, "spreadsheet")
    with app.factory() as s:
        statuses = dict(s.execute(select(Receivable.external_id, Receivable.status)).tuples().all())
    assert statuses == {"INV-1": "paid", "INV-2": "open"}


def test_dispute_recorded_in_dunlin_survives_reimport(app, tmp_path):
    path = write_sheet(tmp_path / "a.csv", [row("C1", "INV-1", "2026-11-01")])
    import_file(app.factory, "acme", path, "spreadsheet")
    with app.factory() as s, s.begin():
        s.scalar(select(Receivable)).status = "disputed"
    import_file(app.factory, "acme", path, "spreadsheet")
    with app.factory() as s:
        assert s.scalar(select(Receivable.status)) == "disputed"


def test_blank_cells_on_a_repeated_customer_do_not_erase_values(app, tmp_path):
    rows = [
        row("C1", "INV-1", "2026-11-01", Mobile="13812345678"),
        row("C1", "INV-2", "2026-11-01"),
    ]
    import_file(app.factory, "acme", write_sheet(tmp_path / "a.csv", rows), "spreadsheet")
    with app.factory() as s:
        assert s.scalar(select(Customer.mobile)) == "+8613812345678"


def test_xlsx_import_with_typed_cells(app, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    values = row("C1", "INV-1", "")
    values["Due Date"] = date(2026, 3, 5)
    values["Amount"] = 1234.5
    ws.append([values[h] if values[h] != "" else None for h in HEADER])
    path = tmp_path / "ar.xlsx"
    wb.save(path)
    import_file(app.factory, "acme", path, "spreadsheet")
    with app.factory() as s:
        inv = s.scalar(select(Receivable))
    assert inv.due_on == date(2026, 3, 5) and inv.amount_open == Decimal("1234.5")


def test_missing_columns_are_named(app, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Customer ID,Customer\nC1,甲\n")
    with pytest.raises(DunlinError, match="Due Date"):
        import_file(app.factory, "acme", path, "spreadsheet")


def test_same_external_ids_in_two_orgs_stay_apart(app, tmp_path):
    path = write_sheet(tmp_path / "a.csv", [row("C1", "INV-1", "2026-11-01", "100")])
    other = write_sheet(tmp_path / "b.csv", [row("C1", "INV-1", "2026-11-01", "999")])
    import_file(app.factory, "acme", path, "spreadsheet")
    import_file(app.factory, "other", other, "spreadsheet")
    assert _count(app, Receivable, "acme") == 1 and _count(app, Receivable, "other") == 1
    with app.factory() as s:
        amounts = sorted(s.scalars(select(Receivable.amount_total)))
    assert amounts == [Decimal("100"), Decimal("999")]


def test_chinese_export_with_the_shipped_zh_mapping(app):
    fixture = Path(__file__).parents[1] / "fixtures" / "ar-zh.csv"
    import_file(app.factory, "acme", fixture, "spreadsheet-zh")
    with app.factory() as s:
        rows = {r.number: r for r in s.scalars(select(Receivable))}
    assert rows["AR-001"].amount_open == Decimal("1234.50") and rows["AR-001"].due_on == date(
        2026, 4, 4
    )
    assert rows["AR-002"].status == "paid" and rows["AR-003"].currency == "USD"


def test_large_batches_take_the_bulk_path_with_the_same_results(app, tmp_path):
    """Above COPY_THRESHOLD PostgreSQL upserts through COPY + INSERT … SELECT; results must match."""
    from dunlin.bulk import COPY_THRESHOLD

    n = COPY_THRESHOLD * 3
    rows = [
        row(f"C{i % 40}", f"INV-{i}", "2026-11-01", f"{i}.25", Tags="vip，长期") for i in range(n)
    ]
    path = write_sheet(tmp_path / "big.csv", rows)
    import_file(app.factory, "acme", path, "spreadsheet")
    with app.factory() as s, s.begin():
        s.scalar(select(Receivable).where(Receivable.external_id == "INV-7")).status = "disputed"
    rows[8]["Open Amount"] = "0"
    import_file(app.factory, "acme", write_sheet(path, rows), "spreadsheet")
    assert _count(app, Receivable) == n and _count(app, Customer) == 40
    with app.factory() as s:
        by_number = {r.external_id: r for r in s.scalars(select(Receivable))}
        tags = s.scalar(select(Customer.tags).where(Customer.external_id == "C3"))
    assert by_number["INV-7"].status == "disputed" and by_number["INV-8"].status == "paid"
    assert by_number[f"INV-{n - 1}"].amount_total == Decimal(f"{n - 1}.25")
    assert tags == ["vip", "长期"]


def test_many_batches_give_the_same_result(app, tmp_path):
    """Several batches per import (and COPY on PostgreSQL) add up to the same rows."""
    rows = [row(f"C{i % 30}", f"INV-{i}", "2026-11-01", f"{i}.10") for i in range(1300)]
    path = write_sheet(tmp_path / "many.csv", rows)
    report = import_file(app.factory, "acme", path, "spreadsheet", batch_size=250)
    assert (report.rows_read, report.receivables) == (1300, 1300)
    assert _count(app, Receivable) == 1300 and _count(app, Customer) == 30
    with app.factory() as s:
        total = sum(s.scalars(select(Receivable.amount_total)))
    assert total == sum(Decimal(f"{i}.10") for i in range(1300))


def test_a_failure_late_in_the_file_loses_nothing_and_keeps_nothing(app, tmp_path):
    rows = [row(f"C{i % 30}", f"INV-{i}", "2026-11-01") for i in range(1000)]
    path = write_sheet(tmp_path / "broken.csv", rows)
    path.write_bytes(
        path.read_bytes() + b"C1,\xff\xfe broken bytes,,,,,,,,,INV-X,CNY,1,1,,2026-11-01,\n"
    )
    with pytest.raises(DunlinError, match="line 1002: not utf-8-sig text"):
        import_file(app.factory, "acme", path, "spreadsheet", batch_size=200)
    assert _count(app, Receivable) == 0 and _count(app, Customer) == 0
