"""`{name}` placeholders in the JSON templates of a REST mapping (bodies, paths, token calls)."""

from __future__ import annotations

import re
from typing import Any

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill(template: Any, values: dict[str, Any]) -> Any:
    """Replace `{name}` in every string of a JSON template; a string that is only a placeholder
    takes the value itself (so `"{since}"` can become null or a number)."""
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole and whole[1] in values:
            return values[whole[1]]
        return _PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], template)
    return template
