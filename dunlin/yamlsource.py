"""YAML config files validated by pydantic, with errors that name the file, line and field.

Every YAML a person or a request sends (policies, mappings, API bodies) goes through
`load_located`, which refuses what would cost far more to process than its size suggests:
aliases beyond a small budget (a 331-byte "billion laughs" expands to 10⁹ nodes), documents
that expand to too many nodes, recursive aliases, deep nesting and large texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from dunlin.errors import DunlinError

M = TypeVar("M", bound=BaseModel)

Path_ = tuple[str | int, ...]

MAX_CHARS = 200_000  # the API's body limit for policies and mappings; shipped files are < 5 kB
MAX_ALIASES = 100  # real configs use a handful (shared step lists); bombs need many
MAX_NODES = 20_000  # scalars + collections once every alias is expanded
MAX_DEPTH = 64  # real configs nest < 10 deep; PyYAML recurses once per level


class YamlLimitError(yaml.MarkedYAMLError):
    """The document is over one of the limits above; carries the mark where it went over."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases and nesting while it composes (before anything expands)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._aliases = 0
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise YamlLimitError(
                    f"more than {MAX_ALIASES} aliases (*name); write the values out / "
                    f"别名（*name）超过 {MAX_ALIASES} 个",
                    # SafeLoader is the pure-Python loader: its marks are yaml.Mark, never the
                    # C loader's that the stubs also allow on an event.
                    cast(yaml.Mark | None, event.start_mark),
                )
        else:
            self._nodes += 1  # stops a plain huge document early, before composing all of it
            if self._nodes > MAX_NODES:
                raise YamlLimitError(_too_many(MAX_NODES), event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlLimitError(
                    f"nested more than {MAX_DEPTH} levels deep / 嵌套超过 {MAX_DEPTH} 层",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A scalar Python refuses (an int of 5000 digits, 2024-13-45, `!!timestamp x`) is a
        YAML error with its line, not a ValueError or AttributeError from inside PyYAML."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, ArithmeticError, AttributeError, TypeError, LookupError) as exc:
            raise YamlLimitError(f"bad value: {exc}", node.start_mark) from exc


def _too_many(limit: int) -> str:
    return (
        f"more than {limit} values (each alias counted as what it repeats) / "
        f"超过 {limit} 个值（别名按展开计算）"
    )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_expansion(root: yaml.Node, limit: int = MAX_NODES) -> None:
    """Refuse a node graph whose tree (every alias expanded) has more than `limit` nodes, or
    that contains itself. Iterative and memoised: linear in the graph, not in the tree."""
    sizes: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > limit:
                raise YamlLimitError(_too_many(limit), node.start_mark)
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in entered:
            raise YamlLimitError("an alias refers to itself / 别名引用了自身", node.start_mark)
        entered.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


def safe_load(text: str) -> Any:
    """`yaml.safe_load` within the limits above; raises yaml.YAMLError (with a mark)."""
    if len(text) > MAX_CHARS:
        raise YamlLimitError(
            f"the document has {len(text)} characters; the limit is {MAX_CHARS} / "
            f"文档超过 {MAX_CHARS} 个字符",
            None,
        )
    return _compose_and_construct(text)[1]


def _compose_and_construct(text: str) -> tuple[yaml.Node | None, Any]:
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        check_expansion(node)
        return node, loader.construct_document(node)
    finally:
        loader.dispose()


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


def _walk(root: yaml.Node, lines: dict[Path_, int]) -> None:
    """Record the line of every key path; iterative, since aliases can chain deep paths."""
    stack: list[tuple[yaml.Node, Path_]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
                lines[path + (key,)] = key_node.start_mark.line + 1
                stack.append((value_node, path + (key,)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[path + (index,)] = item.start_mark.line + 1
                stack.append((item, path + (index,)))


def load_located(text: str, filename: str) -> LocatedYaml:
    """Parse YAML text within the limits; raises yaml.YAMLError (with its line mark) on bad
    syntax or a document over a limit."""
    if len(text) > MAX_CHARS:
        safe_load(text)  # raises the size error
    node, data = _compose_and_construct(text)
    lines: dict[Path_, int] = {}
    if node is not None:
        _walk(node, lines)
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


def _friendly(error: ErrorDetails) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field / 未知字段"
    if error["type"] == "missing":
        return "required field is missing / 缺少必填字段"
    return str(error["msg"]).removeprefix("Value error, ")


def read_config(path: Path, error: type[ConfigFileError] = ConfigFileError) -> str:
    """A config file's text, read no further than the size limit (a config named by mistake
    could be a log of gigabytes); a file that is not UTF-8 is a config error, not a crash."""
    try:
        with path.open(encoding="utf-8-sig") as handle:
            return handle.read(MAX_CHARS + 1)
    except UnicodeDecodeError as exc:
        raise error(
            [
                ConfigIssue(
                    str(path),
                    None,
                    "(file)",
                    f"not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 / "
                    "文件不是 UTF-8 编码，请另存为 UTF-8",
                )
            ]
        ) from exc
    except OSError as exc:
        raise error([ConfigIssue(str(path), None, "(file)", exc.strerror or str(exc))]) from exc


def parse_config(
    text: str, filename: str, error: type[ConfigFileError] = ConfigFileError
) -> LocatedYaml:
    """Parse a config a person sent; a syntax error or a limit becomes `error` with its line."""
    try:
        located = load_located(text, filename)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise error([ConfigIssue(filename, line, "(yaml)", _first_line(exc))]) from exc
    if not isinstance(located.data, dict):
        raise error([ConfigIssue(filename, 1, "(root)", "the file must hold a YAML mapping")])
    return located


def _first_line(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        return exc.problem if exc.context is None else f"{exc.context}: {exc.problem}"
    return (str(exc).splitlines() or ["invalid YAML"])[0]


def validate_located(
    located: LocatedYaml,
    model: type[M],
    context: dict[str, Any] | None = None,
    error: type[ConfigFileError] = ConfigFileError,
) -> M:
    """Validate parsed data; every problem is reported at once, each with its line."""
    try:
        return model.model_validate(located.data, context=context)
    except ValidationError as exc:
        issues = []
        for item in exc.errors():
            loc = _yaml_path(located.data, tuple(item["loc"]))
            tag = (item.get("ctx") or {}).get("discriminator")
            if isinstance(tag, str) and located.lines.get((*loc, tag)) is not None:
                loc = (*loc, tag)  # an unknown tag: point at the key that holds it
            field = ".".join(str(p) for p in loc) or "(root)"
            issues.append(
                ConfigIssue(located.filename, located.line_of(loc), field, _friendly(item))
            )
        raise error(issues) from exc


def _yaml_path(data: Any, loc: Path_) -> Path_:
    """Pydantic's error location as a path of YAML keys: a discriminated union puts the tag
    it chose (`source.auth.fxiaoke.token_url`) where the file has no key, never last."""
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        is_key = isinstance(node, dict) and part in node
        is_item = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (is_key or is_item) and index < len(loc) - 1:
            continue  # a union's tag
        path.append(part)
        node = node[part] if is_key or is_item else None
    return tuple(path)


def validate_yaml(
    text: str,
    filename: str,
    model: type[M],
    context: dict[str, Any] | None = None,
    error: type[ConfigFileError] = ConfigFileError,
) -> M:
    """Parse and validate; every problem is reported at once, each with its line."""
    return validate_located(parse_config(text, filename, error), model, context, error)
