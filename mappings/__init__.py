"""Mapping configs as data: YAML files validated by `mappings.schema`.

`load_mapping("spreadsheet")` reads a shipped mapping; any other argument is a file path, so
an admin copies a shipped file, edits it and points Dunlin at the copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from dunlin.errors import DunlinError
from mappings.schema import Mapping
from mappings.yamlsource import load_located

SHIPPED = Path(__file__).parent


@dataclass(frozen=True)
class MappingIssue:
    filename: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.filename}:{self.line}" if self.line else self.filename
        return f"{where}: {self.field}: {self.message}"


class MappingError(DunlinError):
    """A mapping file is malformed; carries every issue found, each with file and line."""

    exit_code = 2

    def __init__(self, issues: list[MappingIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


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


def _friendly(error: dict) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field / 未知字段"
    if error["type"] == "missing":
        return "required field is missing / 缺少必填字段"
    return error["msg"]


def parse_mapping(text: str, filename: str) -> Mapping:
    try:
        located = load_located(text, filename)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise MappingError(
            [MappingIssue(filename, line, "(yaml)", str(exc).splitlines()[0])]
        ) from exc
    if not isinstance(located.data, dict):
        raise MappingError(
            [MappingIssue(filename, 1, "(root)", "a mapping must be a YAML mapping")]
        )
    try:
        return Mapping.model_validate(located.data)
    except ValidationError as exc:
        issues = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            field = ".".join(str(p) for p in loc) or "(root)"
            issues.append(MappingIssue(filename, located.line_of(loc), field, _friendly(error)))
        raise MappingError(issues) from exc


def load_mapping(name_or_path: str) -> Mapping:
    path = resolve(name_or_path)
    return parse_mapping(path.read_text(encoding="utf-8"), str(path))
