"""Errors a person is meant to read: the CLI prints them without a traceback."""

from __future__ import annotations


class DunlinError(Exception):
    """Base for expected failures; `exit_code` is what the CLI returns."""

    exit_code = 1


class ConfigError(DunlinError):
    """Settings are missing or malformed (e.g. no SECRET_KEY outside the demo)."""

    exit_code = 2


class NotFound(DunlinError):
    """A named thing (org, mapping, customer) does not exist."""
