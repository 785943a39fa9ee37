"""Read rows from a CSV or XLSX file. No business rules: rows come out as column → raw value.

Row numbers are the ones a person sees in Excel or a text editor (the header is row 1 by
default, so the first data row is row 2), which is what error messages quote.
"""

from __future__ import annotations

import csv
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dunlin.errors import DunlinError
from mappings.schema import SourceSettings


class SpreadsheetError(DunlinError):
    exit_code = 2


@dataclass
class Sheet:
    path: Path
    header: list[str]
    rows: Iterator[tuple[int, dict[str, Any]]]
    may_hold_formulas: bool = False  # XLSX: a value may be an UncachedFormula

    def missing_columns(self, wanted: set[str]) -> list[str]:
        return sorted(wanted - set(self.header))


def open_sheet(path: Path, settings: SourceSettings) -> Sheet:
    if not path.exists():
        raise SpreadsheetError(f"{path}: file not found / 文件不存在")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _open_xlsx(path, settings)
    if suffix in (".csv", ".txt", ".tsv"):
        return _open_csv(path, settings)
    raise SpreadsheetError(
        f"{path}: unsupported file type {suffix!r} (CSV or XLSX) / 不支持的文件类型"
    )


def _clean_header(cells: list[Any]) -> list[str]:
    return [("" if c is None else str(c)).strip() for c in cells]


def _open_csv(path: Path, settings: SourceSettings) -> Sheet:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else settings.delimiter
    handle = path.open(newline="", encoding=settings.encoding)
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        for _ in range(settings.header_row - 1):
            next(reader)
        header = _clean_header(next(reader))
    except StopIteration:
        handle.close()
        raise SpreadsheetError(f"{path}: no header row at row {settings.header_row}") from None
    except UnicodeDecodeError as exc:
        handle.close()
        raise SpreadsheetError(
            f"{path}: not {settings.encoding} text; set settings.encoding in the mapping (e.g. gbk)"
        ) from exc
    except csv.Error as exc:
        handle.close()
        raise SpreadsheetError(f"{path}: line {reader.line_num}: not CSV: {exc}") from exc

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        with handle:
            number = settings.header_row
            try:
                for cells in reader:
                    number += 1
                    if not any(cells):
                        continue
                    yield number, dict(zip(header, cells, strict=False))
            except UnicodeDecodeError as exc:
                line = first_undecodable_line(path, settings.encoding)
                raise SpreadsheetError(
                    f"{path}: line {line}: not {settings.encoding} text; nothing was imported "
                    "(set settings.encoding in the mapping, e.g. gbk) / 文件编码错误"
                ) from exc
            except csv.Error as exc:  # e.g. a field over csv.field_size_limit (128 kB)
                raise SpreadsheetError(
                    f"{path}: line {reader.line_num}: not CSV: {exc}; nothing was imported"
                ) from exc

    return Sheet(path, header, rows())


def first_undecodable_line(path: Path, encoding: str) -> int | None:
    """The decoder reads ahead in blocks, so its error says nothing about where: find the line."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError:
                return number
    return None


# What a damaged or foreign file raises from inside zipfile, zlib, ElementTree and openpyxl.
DAMAGED = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    SyntaxError,  # xml.etree.ElementTree.ParseError
    OSError,
    KeyError,
    ValueError,
    TypeError,
    IndexError,
    AttributeError,
)


@dataclass(frozen=True)
class UncachedFormula:
    """A formula cell the file holds no computed value for: written by a program that does not
    calculate (openpyxl, some exports). Reading it as blank would apply a default silently."""

    formula: str
    cell: str

    def __str__(self) -> str:
        return self.formula

    def describe(self) -> str:
        return (
            f"cell {self.cell} holds the formula {self.formula} with no saved value; open and "
            "save the file in Excel or WPS (or paste values) / 公式没有保存计算结果，"
            "请用 Excel 或 WPS 打开并保存（或粘贴为数值）"
        )


class _FormulaView:
    """The sheet read a second time with formulas as text, started only when a cell is present
    but has no value, and only ever read forward: memory stays flat, and a file whose cells all
    have values is read once."""

    def __init__(self, path: Path, sheet_name: str, first_row: int) -> None:
        self.path, self.sheet_name, self.first_row = path, sheet_name, first_row
        self.workbook: Any = None
        self.rows: Iterator[tuple[int, tuple[Any, ...]]] | None = None

    def row(self, number: int) -> tuple[Any, ...]:
        if self.rows is None:
            from openpyxl import load_workbook

            self.workbook = load_workbook(self.path, read_only=True, data_only=False)
            sheet = self.workbook[self.sheet_name]
            self.rows = enumerate(
                sheet.iter_rows(min_row=self.first_row, values_only=True), start=self.first_row
            )
        for seen, cells in self.rows:
            if seen == number:
                return cells
        return ()

    def close(self) -> None:
        if self.workbook is not None:
            self.workbook.close()


def _open_xlsx(path: Path, settings: SourceSettings) -> Sheet:
    from openpyxl import load_workbook
    from openpyxl.cell.read_only import EMPTY_CELL
    from openpyxl.utils import get_column_letter
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, *DAMAGED) as exc:
        raise SpreadsheetError(f"{path}: cannot open as XLSX: {exc}") from exc
    if settings.sheet is not None and settings.sheet not in workbook.sheetnames:
        workbook.close()
        raise SpreadsheetError(
            f"{path}: no sheet named {settings.sheet!r}; sheets: {', '.join(workbook.sheetnames)}"
        )
    sheet = workbook[settings.sheet] if settings.sheet else workbook.worksheets[0]
    # A read-only sheet yields ReadOnlyCell and EmptyCell, not the Cell the stubs name.
    iterator: Iterator[tuple[Any, ...]] = sheet.iter_rows(min_row=settings.header_row)
    try:
        header = _clean_header([c.value for c in next(iterator)])
    except StopIteration:
        workbook.close()
        raise SpreadsheetError(f"{path}: no header row at row {settings.header_row}") from None
    except DAMAGED as exc:
        workbook.close()
        raise SpreadsheetError(f"{path}: cannot read as XLSX: {exc}") from exc
    first = settings.header_row + 1
    formulas = _FormulaView(path, sheet.title, first)

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        number = first - 1
        try:
            for number, cells in enumerate(iterator, start=first):
                values = [c.value for c in cells]
                # present but valueless: a blank with a style, or a formula never calculated
                blanks = None in values and [
                    i for i, v in enumerate(values) if v is None and cells[i] is not EMPTY_CELL
                ]
                if blanks:
                    texts = formulas.row(number)
                    for i in blanks:
                        if i < len(texts) and texts[i] is not None:
                            cell = f"{get_column_letter(i + 1)}{number}"
                            values[i] = UncachedFormula(str(texts[i]), cell)
                if all(v is None or v == "" for v in values):
                    continue
                yield number, dict(zip(header, values, strict=False))
        except DAMAGED as exc:
            raise SpreadsheetError(
                f"{path}: the file is damaged after row {number}: {exc}; nothing was imported "
                "/ 文件已损坏"
            ) from exc
        finally:
            formulas.close()
            workbook.close()

    return Sheet(path, header, rows(), may_hold_formulas=True)
