"""YAML config files validated by pydantic, with errors that name the file, line and field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from dunlin.errors import DunlinError

M = TypeVar("M", bound=BaseModel)

Path_ = tuple[str | int, ...]


class LocatedYaml:
    """Parsed data plus a map from key paths to 1-based line numbers."""

    def __init__(self, data: Any, lines: dict[Path_, int], filename: str) -> None:
        self.data = data
        self.lines = lines
        self.filename = filename

    def line_of(self, path: Path_) -> int | None:
        """Line of the deepest existing prefix of `path` (a misspelt key has its own line)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[path + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[path + (index,)] = item.start_mark.line + 1
            _walk(item, path + (index,), lines)


def load_located(text: str, filename: str) -> LocatedYaml:
    """Parse YAML text; raises yaml.YAMLError (with its own line marks) on bad syntax."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    lines: dict[Path_, int] = {}
    if node is not None:
        _walk(node, (), lines)
    data = yaml.safe_load(text)
    return LocatedYaml(data, lines, filename)


@dataclass(frozen=True)
class ConfigIssue:
    filename: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.filename}:{self.line}" if self.line else self.filename
        return f"{where}: {self.field}: {self.message}"


class ConfigFileError(DunlinError):
    """A YAML config (mapping, policy) is malformed; carries every issue with file and line."""

    exit_code = 2

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def _friendly(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field / 未知字段"
    if error["type"] == "missing":
        return "required field is missing / 缺少必填字段"
    return str(error["msg"]).removeprefix("Value error, ")


def validate_yaml(
    text: str,
    filename: str,
    model: type[M],
    context: dict[str, Any] | None = None,
    error: type[ConfigFileError] = ConfigFileError,
) -> M:
    """Parse and validate; every problem is reported at once, each with its line."""
    try:
        located = load_located(text, filename)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise error([ConfigIssue(filename, line, "(yaml)", str(exc).splitlines()[0])]) from exc
    if not isinstance(located.data, dict):
        raise error([ConfigIssue(filename, 1, "(root)", "the file must hold a YAML mapping")])
    try:
        return model.model_validate(located.data, context=context)
    except ValidationError as exc:
        issues = []
        for item in exc.errors():
            loc = tuple(item["loc"])
            field = ".".join(str(p) for p in loc) or "(root)"
            issues.append(ConfigIssue(filename, located.line_of(loc), field, _friendly(item)))
        raise error(issues) from exc
