"""`dunlin import` and `dunlin mappings check`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.output import console, progress
from dunlin.i18n import t
from mappings import MappingError, load_mapping, shipped_names
from mappings.paths import mapped_paths
from sync.importer import import_file

if TYPE_CHECKING:
    from cli import CliState


def estimate_rows(path: Path) -> int | None:
    """Lines in a CSV (fast, byte count of newlines) for the progress bar; None for XLSX."""
    if path.suffix.lower() not in (".csv", ".tsv", ".txt") or not path.exists():
        return None
    count = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            count += block.count(b"\n")
    return max(count - 1, 0)


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--mapping",
    "mapping_name",
    required=True,
    help="A shipped mapping name (e.g. spreadsheet, spreadsheet-zh) or a path to a YAML file.",
)
@click.option(
    "--source",
    "source_name",
    help="Source name to record rows under (default: the mapping's name).",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the valid rows and write the invalid ones to a rejects file.",
)
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write rejected rows (default: FILE.rejects.csv).",
)
@click.pass_obj
def import_command(
    state: CliState,
    file: Path,
    mapping_name: str,
    source_name: str | None,
    skip_invalid: bool,
    rejects_path: Path | None,
) -> None:
    """Import customers and receivables from a CSV or XLSX file.

    Nothing is imported if any row is invalid, unless --skip-invalid. Re-importing updates rows
    by their external id; rows missing from a later file are kept.
    """
    app = state.app()
    with progress() as bar:
        task = bar.add_task(t("Importing", "导入中"), total=estimate_rows(file))
        report = import_file(
            app.factory,
            state.org,
            file,
            mapping_name,
            source_name=source_name,
            skip_invalid=skip_invalid,
            rejects_path=rejects_path,
            on_progress=lambda n: bar.update(task, completed=n),
        )
    console.print(
        t(
            f"Imported {report.rows_read - len(report.rejections)} of {report.rows_read} rows from {file.name}: "
            f"{report.receivables} receivables, {report.customers} customer updates (source {report.source!r}).",
            f"已从 {file.name} 导入 {report.rows_read - len(report.rejections)}/{report.rows_read} 行："
            f"应收 {report.receivables} 条，客户更新 {report.customers} 条（数据源 {report.source!r}）。",
        )
    )
    if report.reminders_cancelled:
        console.print(
            t(
                f"Cancelled {report.reminders_cancelled} planned reminder(s) for settled invoices.",
                f"已取消 {report.reminders_cancelled} 条已结清应收的待发提醒。",
            )
        )
    if report.rejections:
        console.print(
            t(
                f"[yellow]{len(report.rejections)} row(s) rejected → {report.rejects_path}[/yellow]",
                f"[yellow]{len(report.rejections)} 行被拒绝 → {report.rejects_path}[/yellow]",
            )
        )


@click.group()
def mappings() -> None:
    """Inspect and validate mapping files."""


@mappings.command("check")
@click.argument("name_or_file")
@click.option(
    "--source",
    "source_name",
    help="Also connect to this source and check that every field the mapping reads exists.",
)
@click.pass_obj
def mappings_check(state: CliState, name_or_file: str, source_name: str | None) -> None:
    """Validate a mapping; prints every error with its line number."""
    try:
        mapping = load_mapping(name_or_file)
    except MappingError as exc:
        for issue in exc.issues:
            click.secho(str(issue), fg="red", err=True)
        raise SystemExit(exc.exit_code) from None
    if mapping.kind == "spreadsheet":
        what = t(f"{len(mapping.columns())} columns", f"{len(mapping.columns())} 列")
    else:
        fields = sorted(mapped_paths(mapping, "customers") | mapped_paths(mapping, "receivables"))
        what = t(f"{len(fields)} source fields", f"{len(fields)} 个源字段")
    console.print(
        t(
            f"{name_or_file}: OK ({mapping.kind}, {what})",
            f"{name_or_file}：有效（{mapping.kind}，{what}）",
        )
    )
    if source_name:
        from cli.sources import check_source_fields

        check_source_fields(state, source_name, name_or_file)


@mappings.command("list")
def mappings_list() -> None:
    """List the shipped mappings."""
    for name in shipped_names():
        click.echo(name)
