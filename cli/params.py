"""Option parsing shared by commands that store settings and secrets (sources, channels)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from dunlin.crypto import SecretBox
from dunlin.i18n import t

if TYPE_CHECKING:
    from cli import CliState


def secret_box(state: CliState) -> SecretBox:
    return SecretBox(state.settings.require_secret_key())


def key_values(values: tuple[str, ...], option: str, numbers: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        value = value.strip()
        # Numbers stay numbers (an API's formId is a JSON number); other values are text.
        number = numbers and value.isdigit() and not value.startswith("0")
        out[key.strip()] = int(value) if number else value
    return out


def read_secret(name: str) -> str:
    """From DUNLIN_SECRET_<NAME> if set (scripts, CI), else asked for without echo."""
    env = f"DUNLIN_SECRET_{name.upper()}"
    # A secret named `key` (a WeCom robot's) would read DUNLIN_SECRET_KEY, Dunlin's own
    # encryption key, and store it as the provider's: that one is always asked for.
    if env != "DUNLIN_SECRET_KEY" and os.environ.get(env):
        return os.environ[env]
    return click.prompt(t(f"{name} (input hidden)", f"{name}（输入不显示）"), hide_input=True)
