"""Mapping configs as data: YAML files validated by `mappings.schema`.

`load_mapping("spreadsheet")` reads a shipped mapping; any other argument is a file path, so
an admin copies a shipped file, edits it and points Dunlin at the copy.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from dunlin.yamlsource import (
    ConfigFileError,
    ConfigIssue,
    parse_config,
    read_config,
    validate_located,
)
from mappings.api import API_MAPPINGS
from mappings.schema import Mapping

SHIPPED = Path(__file__).parent


MappingIssue = ConfigIssue


class MappingError(ConfigFileError):
    """A mapping file is malformed; carries every issue found, each with file and line."""


def shipped_names() -> list[str]:
    return sorted(p.stem for p in SHIPPED.glob("*.yaml"))


def resolve(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise MappingError([MappingIssue(str(path), None, "(file)", "file not found")])
        return path
    shipped = SHIPPED / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    raise MappingError(
        [
            MappingIssue(
                name_or_path,
                None,
                "(name)",
                f"no such mapping; shipped: {', '.join(shipped_names())}",
            )
        ]
    )


def parse_mapping(text: str, filename: str) -> Mapping:
    """Validate against the schema of the file's `kind` (spreadsheet, odoo, kingdee, rest)."""
    located = parse_config(text, filename, error=MappingError)
    kind = located.data.get("kind")
    model = API_MAPPINGS.get(kind if isinstance(kind, str) else "", Mapping)
    context = {"shorthand": "path" if model is not Mapping else "column"}
    return validate_located(located, model, context=context, error=MappingError)


def load_mapping(name_or_path: str) -> Mapping:
    path = resolve(name_or_path)
    return parse_mapping(read_config(path, MappingError), str(path))


def current_mapping(name_or_path: str) -> Mapping:
    """The mapping as its file is now, parsed once per version of the file (web requests
    must not parse YAML each time, and an edited file takes effect without a restart)."""
    path = resolve(name_or_path)
    return _parsed(str(path.resolve()), path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _parsed(path: str, _mtime_ns: int) -> Mapping:
    return load_mapping(path)
