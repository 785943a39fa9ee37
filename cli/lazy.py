"""A click group that imports a command's module only when that command runs.

`dunlin --help` used to import every command module, and with them Alembic, SQLAlchemy's ORM,
the planner and the channel providers (1.3-1.6 s). The group lists each command with a short
help kept here, so listing them imports nothing; tests check it matches the command's own.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class LazyCommand:
    module: str
    attr: str
    short_help: str


class LazyGroup(click.Group):
    """Commands are `name -> LazyCommand`; the module is imported on first `get_command`."""

    def __init__(self, *args: Any, lazy: dict[str, LazyCommand], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            spec = self.lazy[cmd_name]
            command = getattr(importlib.import_module(spec.module), spec.attr)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, but a command not imported yet shows the short help kept here."""
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                command = self.commands[name]
                if command.hidden:
                    continue
                help_text = command.get_short_help_str(formatter.width - 6 - len(name))
            else:
                help_text = self.lazy[name].short_help
            rows.append((name, help_text))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
