"""Parsing JSON from strangers: depth bounded before the parser runs, no NaN or Infinity.

Python's json module recurses once per nesting level, so `[[[[…` 100,000 deep ends in a
RecursionError (a 500), and every recursive walk over the result (NUL checks, pydantic) is at
risk too. `nesting_depth` measures the depth over the raw bytes without building anything, so
the parser only ever sees documents of bounded depth. The parser also refuses the NaN and
Infinity literals Python accepts by default (no amount or id is ever non-finite), and numbers
that overflow a float; integers are already bounded by Python's 4,300-digit limit.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_JSON_DEPTH = 32
# A JSON string (skipped whole, brackets inside it do not count) or one bracket.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class JsonRefused(ValueError):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def nesting_depth(raw: bytes, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in `raw` (a JSON text; for invalid input a
    number that is never below the true depth of its valid prefix); stops counting once it
    passes `stop_above`."""
    opened = raw.count(b"[") + raw.count(b"{")
    if stop_above is not None and opened <= stop_above:
        return opened  # cannot be deeper than the number of brackets: no scan needed
    depth = deepest = 0
    for match in _TOKEN.finditer(raw):
        char = match.group()[0]
        if char in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    break
        elif char in b"]}":
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number out of range: {text[:20]}")
    return number


def loads(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse `raw`, or raise JsonRefused (code `too_deep` or `bad_json`) with a reason."""
    data = raw.encode() if isinstance(raw, str) else raw
    if nesting_depth(data, stop_above=max_depth) > max_depth:
        raise JsonRefused(
            "too_deep", f"JSON nested deeper than {max_depth} levels / JSON 嵌套超过 {max_depth} 层"
        )
    try:
        return json.loads(data, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise JsonRefused(
            "bad_json", f"the body is not valid JSON: {exc} / 请求体不是有效的 JSON"
        ) from exc
