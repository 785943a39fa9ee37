"""Console, tables and progress bars shared by the CLI commands."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dunlin.i18n import t

console = Console()
err_console = Console(stderr=True)


def table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], compact: bool = False
) -> Table:
    out = compact_table(title) if compact else Table(title=title, title_justify="left")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("" if v is None else str(v) for v in row))
    return out


def compact_table(title: str) -> Table:
    """A table without vertical rules, for the wide ones (the plan): at 80 columns the rules
    and padding of `table` left too little room and names, amounts and dates were cut."""
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )


def one_language(text: str) -> str:
    """The reader's half of a stored bilingual text ("English / 中文"), else the whole."""
    english, sep, chinese = text.partition(" / ")
    if not sep:
        return text
    return t(english, chinese)


def joined(items: Sequence[str], limit: int = 10) -> str:
    """`a, b, c` — or the first `limit` and "… and N more" when there are more."""
    shown = ", ".join(items[:limit])
    rest = len(items) - limit
    return shown + (t(f", … and {rest} more", f"……另有 {rest} 个") if rest > 0 else "")


def more_line(shown: int, total: int, hint: str = "") -> str | None:
    """ "… and N more" under a list that was cut, or None when nothing was left out."""
    if total <= shown:
        return None
    rest = total - shown
    return t(f"… and {rest} more", f"……另有 {rest} 条") + (f" ({hint})" if hint else "")


def local_time(moment: datetime, zone: str, day: date | None = None) -> str:
    """`moment` in `zone`: the time alone when it falls on `day`, with month and day when it
    falls in `day`'s year, else in full."""
    local = moment.astimezone(ZoneInfo(zone))
    if day is not None and local.date() == day:
        return f"{local:%H:%M}"
    if day is not None and local.year == day.year:
        return f"{local:%m-%d %H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"


def grouped_counts(counts: Iterable[tuple[str, int]], limit: int = 8) -> list[str]:
    """One line per reason, most frequent first; the rest summed in a last line."""
    ordered = sorted(counts, key=lambda item: (-item[1], item[0]))
    lines = [f"  {n:>6}  {reason}" for reason, n in ordered[:limit]]
    rest = ordered[limit:]
    if rest:
        n = sum(c for _, c in rest)
        lines.append(
            f"  {n:>6}  " + t(f"… and {len(rest)} more reason(s)", f"……另有 {len(rest)} 种原因")
        )
    return lines


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


def source_health(source: Any, zone: str) -> tuple[str, str]:
    """(status with its reason, last successful sync in `zone`) of a source, as tables show
    them; the header names the zone (`in_zone`)."""
    status = source.status + (f": {source.status_detail}" if source.status_detail else "")
    last = local_time(source.last_synced_at, zone) if source.last_synced_at else "-"
    return status, last


def in_zone(header: str, zone: str) -> str:
    """A time column's header with the zone its times are in."""
    return f"{header} ({zone})"
