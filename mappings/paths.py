"""Which source fields a mapping reads: the field chains its JMESPath expressions start from.

Connectors request exactly these (Odoo: explicit field lists; K3Cloud: FieldKeys such as
`FCUSTOMERID.FNumber`), and `sources test` checks each exists in the source.
"""

from __future__ import annotations

from collections import abc
from typing import Any

import jmespath

from mappings.schema import Mapping

_RELATIVE_RIGHT = {"subexpression", "projection", "value_projection", "pipe", "filter_projection"}


def _chain(node: abc.Mapping[str, Any]) -> str | None:
    if node["type"] == "field":
        name: str = node["value"]
        return name
    if node["type"] == "subexpression":
        parts = [_chain(child) for child in node["children"]]
        names = [part for part in parts if part is not None]
        if len(names) == len(parts):
            return ".".join(names)
    return None


def _walk(node: abc.Mapping[str, Any]) -> set[str]:
    chain = _chain(node)
    if chain is not None:
        return {chain}
    children = node.get("children", [])
    if node["type"] in _RELATIVE_RIGHT or node["type"] == "index_expression":
        # Only the left side reads the record; the rest reads what the left produced.
        return _walk(children[0]) if children else set()
    found: set[str] = set()
    for child in children:
        if isinstance(child, dict):
            found |= _walk(child)
    return found


def field_paths(expression: str) -> set[str]:
    """Dotted field chains read from the record root, e.g. `currency_id.name || 'CNY'` →
    {"currency_id.name"}."""
    return _walk(jmespath.compile(expression).parsed)


def mapped_paths(mapping: Mapping, entity: str) -> set[str]:
    section = mapping.sections().get(entity)
    if section is None:
        return set()
    paths: set[str] = set()
    for spec in section.specs().values():
        if spec.path is not None:
            paths |= field_paths(spec.path)
    return paths


def root_fields(mapping: Mapping, entity: str) -> set[str]:
    return {path.split(".", 1)[0] for path in mapped_paths(mapping, entity)}
