"""Console, tables and progress bars shared by the CLI commands."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    out = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("" if v is None else str(v) for v in row))
    return out


def progress() -> Progress:
    """A bar with count, rate-friendly elapsed time; drawn on stderr so stdout stays clean."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


def source_health(source: Any) -> tuple[str, str]:
    """(status with its reason, last successful sync) of a source, as tables show them."""
    status = source.status + (f": {source.status_detail}" if source.status_detail else "")
    last = source.last_synced_at.isoformat(timespec="seconds") if source.last_synced_at else "-"
    return status, last
