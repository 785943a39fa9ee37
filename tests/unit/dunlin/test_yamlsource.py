"""YAML from a person or a request is parsed within limits: an alias bomb, a self-referencing
alias, deep nesting or a huge text is refused fast with a line, never expanded."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from dunlin.yamlsource import (
    MAX_ALIASES,
    MAX_CHARS,
    ConfigFileError,
    YamlLimitError,
    safe_load,
)
from mappings import MappingError, parse_mapping
from reminders.planning.policy_file import parse_policy

ROOT = Path(__file__).parents[3]


def billion_laughs(levels: int = 9) -> str:
    """The classic: each level lists the previous one nine times (9⁹ ≈ 387 M strings)."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "name: bomb\n" + "\n".join(lines) + "\n"


def few_alias_bomb(levels: int = 40) -> str:
    """Two aliases a level: only 80 aliases, under the alias budget, yet 2⁴⁰ nodes."""
    lines = ["l0: &l0 [x, x]"]
    lines += [f"l{i}: &l{i} [*l{i - 1}, *l{i - 1}]" for i in range(1, levels)]
    return "name: bomb\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize("parse", [parse_policy, parse_mapping], ids=["policy", "mapping"])
@pytest.mark.parametrize(
    ("text", "message", "line"),  # line: where the document goes over
    [
        (billion_laughs(), "more than 20000 values", 6),
        (few_alias_bomb(), "more than 20000 values", 15),
        ("name: x\nloop: &a [1, *a]\n", "refers to itself", 2),
        ("name: x\nd: " + "[" * 500 + "]" * 500 + "\n", "nested more than", 2),
        (
            "name: x\nbase: &a 1\n" + "".join(f"k{i}: *a\n" for i in range(MAX_ALIASES + 1)),
            f"more than {MAX_ALIASES} aliases",
            MAX_ALIASES + 3,
        ),
        ("name: x\nn: " + "9" * 5000 + "\n", "bad value", 2),
        ("name: x\nd: 2024-13-45\n", "bad value", 2),
        ("name: x\nd: !!timestamp soon\n", "bad value", 2),
        ("? [a, b]\n: c\n", "unhashable", 1),
    ],
    ids=[
        "billion-laughs",
        "few-aliases",
        "recursive",
        "deep",
        "alias-budget",
        "int",
        "date",
        "tag",
        "key",
    ],
)
def test_costly_or_odd_yaml_is_a_config_error_with_a_line(parse, text, message, line):
    started = time.perf_counter()
    with pytest.raises(ConfigFileError) as raised:
        parse(text, "x.yaml")
    assert time.perf_counter() - started < 1.0
    issue = raised.value.issues[0]
    assert issue.field == "(yaml)" and message in issue.message
    assert issue.line == line


def test_a_huge_document_is_refused_before_parsing():
    text = "name: x\n" + "# padding\n" * (MAX_CHARS // 10)
    with pytest.raises(MappingError) as raised:
        parse_mapping(text, "big.yaml")
    assert "the limit is" in str(raised.value)
    with pytest.raises(YamlLimitError):
        safe_load(text)


def test_ordinary_aliases_still_work():
    data = safe_load("base: &s [email, sms]\na: *s\nb: {c: *s}\n")
    assert data == {"base": ["email", "sms"], "a": ["email", "sms"], "b": {"c": ["email", "sms"]}}
    with pytest.raises(yaml.YAMLError):
        safe_load("a: !!python/object:os.system x\n")


def test_every_yaml_parse_goes_through_the_bounded_loader():
    """A new `yaml.safe_load` on user input would bring the bomb back: only yamlsource parses."""
    pattern = re.compile(r"\byaml\.(safe_load|load|full_load|unsafe_load|compose|load_all)\b")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("dunlin", "connectors", "mappings", "reminders", "sync", "webhooks")
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "yamlsource.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_a_document_with_too_many_values_stops_composing_at_the_limit():
    text = "".join(f"k{i}: v\n" for i in range(15_000))  # 30,000 nodes, no alias at all
    with pytest.raises(ConfigFileError) as raised:
        parse_mapping(text, "big.yaml")
    (issue,) = raised.value.issues
    assert "more than 20000 values" in issue.message and issue.line == 10_000


def test_a_config_file_is_read_no_further_than_the_limit(tmp_path):
    from dunlin.yamlsource import read_config

    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (3 * MAX_CHARS), encoding="utf-8")
    assert len(read_config(big)) == MAX_CHARS + 1
    with pytest.raises(ConfigFileError, match="the limit is"):
        parse_policy(read_config(big), str(big))
