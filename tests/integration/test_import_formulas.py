"""A formula cell the XLSX holds no calculated value for is an error naming its row, column and
cell, never a blank that lets a default apply (open amount 100 instead of 200, silently)."""

from __future__ import annotations

import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from sync.importer import ImportRejected, import_file
from sync.models import Receivable
from tests.integration.helpers import HEADER, row
from tests.integration.test_cli import run


def formula_sheet(path: Path, cached: str | None = None) -> Path:
    """Row 2 is plain; row 3's Open Amount is `=M3-100` (200 of 300), saved by openpyxl, which
    does not calculate (read as blank, the open amount defaulted to the total, 300);
    `cached` writes a value into the file as Excel does on saving."""
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for values in (
        row("C1", "INV-1", "2026-11-01"),
        row("C2", "INV-2", "2026-11-01", amount="300.00", open_amount="=M3-100"),
    ):
        ws.append([values[h] or None for h in HEADER])
    wb.save(path)
    if cached is not None:
        with zipfile.ZipFile(path) as source:
            parts = {name: source.read(name) for name in source.namelist()}
        sheet = "xl/worksheets/sheet1.xml"
        parts[sheet] = parts[sheet].replace(
            b"<f>M3-100</f><v />", f"<f>M3-100</f><v>{cached}</v>".encode()
        )
        with zipfile.ZipFile(path, "w") as target:
            for name, data in parts.items():
                target.writestr(name, data)
    return path


def _open_amounts(app) -> dict[str, Decimal]:
    with app.factory() as s:
        found = s.execute(select(Receivable.external_id, Receivable.amount_open)).all()
    return {external_id: Decimal(amount) for external_id, amount in found}


def test_uncached_formula_rejects_the_file_naming_row_column_and_cell(app, tmp_path):
    path = formula_sheet(tmp_path / "ar.xlsx")
    with pytest.raises(ImportRejected) as raised:
        import_file(app.factory, "acme", path, "spreadsheet")
    message = str(raised.value)
    assert "row 3: column 'Open Amount' (amount_open): cell N3 holds the formula =M3-100" in message
    assert "no saved value" in message
    assert _open_amounts(app) == {}

    report = import_file(app.factory, "acme", path, "spreadsheet", skip_invalid=True)
    assert [r.row for r in report.rejections] == [3]
    assert _open_amounts(app) == {"INV-1": Decimal(100)}
    rejects = report.rejects_path.read_text(encoding="utf-8-sig").splitlines()
    assert rejects[1].startswith("3,") and "cell N3 holds the formula =M3-100" in rejects[1]
    assert "=M3-100" in rejects[1].split("no saved value", 1)[1]  # the raw cell keeps the formula


def test_a_formula_with_a_saved_value_imports_that_value(app, tmp_path):
    path = formula_sheet(tmp_path / "ar.xlsx", cached="200")
    import_file(app.factory, "acme", path, "spreadsheet")
    assert _open_amounts(app) == {"INV-1": Decimal(100), "INV-2": Decimal(200)}


def test_cli_exit_code_3_and_rejects_file(tmp_path):
    key = run(["secret-key"], tmp_path).stdout.strip()
    env = {"DUNLIN_SECRET_KEY": key, "DUNLIN_ORG": "acme"}
    assert run(["init"], tmp_path, **env).returncode == 0
    path = formula_sheet(tmp_path / "ar.xlsx")
    refused = run(["import", str(path), "--mapping", "spreadsheet"], tmp_path, **env)
    assert refused.returncode == 3, refused.stderr
    assert "row 3: column 'Open Amount'" in refused.stderr and "=M3-100" in refused.stderr
    assert "Traceback" not in refused.stderr
    skipped = run(
        ["import", str(path), "--mapping", "spreadsheet", "--skip-invalid"], tmp_path, **env
    )
    assert skipped.returncode == 0, skipped.stderr
    rejects = (tmp_path / "ar.rejects.csv").read_text(encoding="utf-8-sig")
    assert "row 3: column 'Open Amount' (amount_open): cell N3 holds the formula =M3-100" in rejects
