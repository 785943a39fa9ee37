"""Fuzz the importer with CSV and XLSX files of random rows in the shipped layout (and random
bytes): it imports, or refuses with the project's own error naming rows; never a traceback."""

from __future__ import annotations

import csv
import itertools
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from dunlin.errors import DunlinError
from sync.importer import import_file
from tests.integration.helpers import HEADER, row

IMPORTS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FILES = itertools.count(1)

# Printable text (openpyxl refuses control characters in cells, as Excel does).
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=16)
cells = (
    texts
    | st.sampled_from(
        [
            "",
            "¥1,234.50",
            "1.234,5",
            "(100)",
            "-5",
            "1e30",
            "NaN",
            "2026-02-30",
            "31/12/2026",
            "2026年3月5日",
            "zh_CN",
            "A",
            "vip,新客户",
            "=M2*2",
        ]
    )
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(min_value=-1e12, max_value=1e12)
    | st.dates()
    | st.booleans()
)
plain = st.builds(
    row,
    st.sampled_from(["C1", "C2", "C3"]),
    st.sampled_from(["I1", "I2", "I3", "I4"]),
    st.sampled_from(["2026-11-01", "2026-13-01", ""]),
)
rows = st.lists(
    st.tuples(plain, st.dictionaries(st.sampled_from(HEADER), cells, max_size=4)).map(
        lambda pair: {**pair[0], **pair[1]}
    ),
    min_size=1,
    max_size=6,
)


def _write(folder: Path, suffix: str, data: list[dict]) -> Path:
    path = folder / f"fuzz{next(FILES)}.{suffix}"
    if suffix == "csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=HEADER)
            writer.writeheader()
            writer.writerows({k: str(v) for k, v in r.items()} for r in data)
    else:
        wb = Workbook()
        wb.active.append(HEADER)
        for r in data:
            wb.active.append([None if r[h] == "" else r[h] for h in HEADER])
        wb.save(path)
    return path


@IMPORTS
@given(data=rows, suffix=st.sampled_from(["csv", "xlsx"]), skip=st.booleans())
def test_random_rows_import_or_are_refused_by_row(app, tmp_path, data, suffix, skip):
    path = _write(tmp_path, suffix, data)
    try:
        report = import_file(app.factory, "acme", path, "spreadsheet", skip_invalid=skip)
    except DunlinError as exc:
        assert "row " in str(exc) or "nothing was imported" in str(exc), str(exc)
        return
    assert report.committed and report.rows_read == len(data)


def _damaged_xlsx(folder: Path, edits: list[tuple[int, int, bytes]]) -> Path:
    """A valid workbook whose sheet XML has slices cut or replaced (the zip itself is intact,
    so the damage reaches openpyxl's parser)."""
    path = _write(folder, "xlsx", [row("C1", "I1", "2026-11-01"), row("C2", "I2", "2026-11-01")])
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    for at, length, token in edits:
        at %= len(sheet)
        sheet = sheet[:at] + token + sheet[at + length :]
    parts["xl/worksheets/sheet1.xml"] = sheet
    with zipfile.ZipFile(path, "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return path


XML_TOKENS = [
    b"<",
    b">",
    b"</c>",
    b"<v>",
    b"</v>",
    b'r="A0"',
    b'r="ZZZZ9"',
    b't="s"',
    b't="d"',
    b't="b"',
    b"<f>1/0</f>",
    b"<v>x</v>",
    b"<v>1e999</v>",
    b'<c r="B2" t="s"><v>99</v></c>',
    b"&",
    b"<row>",
    b'<row r="0">',
    b"\x00",
    b"",
]


@IMPORTS
@given(
    raw=st.binary(max_size=300),
    suffix=st.sampled_from(["csv", "xlsx", "damaged"]),
    edits=st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 40), st.sampled_from(XML_TOKENS)),
        min_size=1,
        max_size=4,
    ),
)
def test_random_and_damaged_files_are_refused_with_a_reason(app, tmp_path, raw, suffix, edits):
    if suffix == "damaged":
        path = _damaged_xlsx(tmp_path, edits)
    else:
        path = tmp_path / f"junk{next(FILES)}.{suffix}"
        path.write_bytes(raw)
    try:
        report = import_file(app.factory, "acme", path, "spreadsheet", skip_invalid=True)
    except DunlinError as exc:
        assert str(path) in str(exc)
    else:
        assert report.committed
