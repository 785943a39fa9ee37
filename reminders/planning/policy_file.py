"""Reading a policy from YAML text or a file: bounded parsing, line numbers in every error,
and the context the model checks against (the org's tags, the templates it can use). The model
itself (reminders.core.policy) stays pure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dunlin.yamlsource import parse_config, read_config, validate_located
from reminders.core.policy import Policy
from reminders.sending.render import shipped_templates


def parse_policy(
    text: str,
    filename: str,
    known_tags: set[str] | None = None,
    templates: set[str] | None = None,
) -> Policy:
    """Validate; with `known_tags` (the org's), track tags must be among them or the file's own
    `known_tags` list. `templates`: names the org added by overriding (beside the shipped)."""
    located = parse_config(text, filename)
    context: dict[str, Any] = {"templates": shipped_templates() | (templates or set())}
    if known_tags is not None:
        declared = located.data.get("known_tags") or []
        if not isinstance(declared, list):
            declared = []  # the model reports the wrong type with its line
        context["known_tags"] = set(known_tags) | {str(tag) for tag in declared}
    return validate_located(located, Policy, context)


def load_policy(
    path: Path, known_tags: set[str] | None = None, templates: set[str] | None = None
) -> Policy:
    return parse_policy(read_config(path), str(path), known_tags, templates)
