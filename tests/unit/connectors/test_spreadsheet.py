import zipfile
from datetime import datetime

import pytest
from openpyxl import Workbook

from connectors.spreadsheet import SpreadsheetError, open_sheet
from mappings.schema import SourceSettings


def test_csv_rows_carry_the_numbers_a_person_sees(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("\ufeffA,B\n1,x\n\n2,y\n", encoding="utf-8")
    sheet = open_sheet(path, SourceSettings())
    assert sheet.header == ["A", "B"]
    assert list(sheet.rows) == [(2, {"A": "1", "B": "x"}), (4, {"A": "2", "B": "y"})]


def test_header_row_setting_and_gbk_encoding(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes("报表标题\n客户,金额\n甲,1\n".encode("gbk"))
    sheet = open_sheet(path, SourceSettings(header_row=2, encoding="gbk"))
    assert sheet.header == ["客户", "金额"]
    assert list(sheet.rows) == [(3, {"客户": "甲", "金额": "1"})]


def test_wrong_encoding_says_what_to_set(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes("客户,金额\n".encode("gbk"))
    with pytest.raises(SpreadsheetError, match="encoding"):
        open_sheet(path, SourceSettings())


def test_xlsx_typed_cells_and_named_sheet(tmp_path):
    wb = Workbook()
    wb.active.title = "Cover"
    ws = wb.create_sheet("AR")
    ws.append(["Invoice", "Due", "Amount"])
    ws.append(["INV-1", datetime(2026, 3, 5), 1234.5])
    path = tmp_path / "d.xlsx"
    wb.save(path)
    sheet = open_sheet(path, SourceSettings(sheet="AR"))
    assert list(sheet.rows) == [
        (2, {"Invoice": "INV-1", "Due": datetime(2026, 3, 5), "Amount": 1234.5})
    ]
    with pytest.raises(SpreadsheetError, match="no sheet named 'Nope'; sheets: Cover, AR"):
        open_sheet(path, SourceSettings(sheet="Nope"))


def test_unsupported_and_missing_files(tmp_path):
    with pytest.raises(SpreadsheetError, match="not found"):
        open_sheet(tmp_path / "none.csv", SourceSettings())
    other = tmp_path / "x.pdf"
    other.write_text("x")
    with pytest.raises(SpreadsheetError, match="unsupported"):
        open_sheet(other, SourceSettings())


def test_xlsx_uncached_formula_is_marked_and_a_styled_blank_stays_blank(tmp_path):
    from openpyxl.styles import Font

    from connectors.spreadsheet import UncachedFormula

    wb = Workbook()
    ws = wb.active
    ws.append(["A", "B"])
    ws.append([1, "=A2*2"])
    ws.append([2, None])
    ws["B3"].font = Font(bold=True)  # present in the file, no value
    path = tmp_path / "f.xlsx"
    wb.save(path)
    sheet = open_sheet(path, SourceSettings())
    assert sheet.may_hold_formulas
    assert list(sheet.rows) == [
        (2, {"A": 1, "B": UncachedFormula("=A2*2", "B2")}),
        (3, {"A": 2, "B": None}),
    ]


def test_damaged_files_are_spreadsheet_errors(tmp_path):
    """Found by the fuzz pass: a .xlsx that is not a zip raised BadZipFile, a CSV field over
    csv.field_size_limit raised csv.Error, and a damaged sheet raised from inside openpyxl."""
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a zip")
    with pytest.raises(SpreadsheetError, match="cannot open as XLSX"):
        open_sheet(junk, SourceSettings())
    big = tmp_path / "big.csv"
    big.write_text('A,B\n1,"' + "x" * 200_000 + '"\n', encoding="utf-8")
    with pytest.raises(SpreadsheetError, match="line 2: not CSV"):
        list(open_sheet(big, SourceSettings()).rows)
    wb = Workbook()
    wb.active.append(["A", "B"])
    wb.active.append([1, 2])
    damaged = tmp_path / "damaged.xlsx"
    wb.save(damaged)
    with zipfile.ZipFile(damaged) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"].replace(b"</row>", b"<")
    with zipfile.ZipFile(damaged, "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)
    with pytest.raises(SpreadsheetError, match="damaged|cannot read"):
        list(open_sheet(damaged, SourceSettings()).rows)
