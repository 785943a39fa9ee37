"""The OpenAPI document's rules agree with the server's validation (pure parts, by property)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from webhooks.api.spec import MAX_ID, NO_NUL, _as_json_schema_numbers
from webhooks.edge import has_nul

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.text())
def test_the_no_nul_pattern_is_the_servers_nul_rule(text):
    assert (re.fullmatch(NO_NUL, text) is not None) == (not has_nul(text))


@given(json_values)
def test_integral_floats_become_ints_and_nothing_else_changes(value):
    normalized = _as_json_schema_numbers(value)
    assert normalized == value  # 2.0 == 2: the same JSON Schema value
    assert not any(
        isinstance(n, float) and n.is_integer() and abs(n) <= MAX_ID for n in _leaves(normalized)
    )


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def test_every_zone_the_schema_offers_is_one_the_server_accepts():
    from webhooks.api.schemas import OrgPatch

    zones = OrgPatch.model_json_schema()["properties"]["timezone"]["anyOf"][0]["enum"]
    assert len(zones) > 300
    for zone in zones:
        ZoneInfo(zone)
        assert OrgPatch.model_validate({"timezone": zone}).timezone == zone


def _patterns(node):
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield node["pattern"]
        for value in node.values():
            yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)


def test_no_pattern_in_a_request_schema_admits_nul():
    """Strings keep their own pattern instead of NO_NUL, so each must exclude NUL itself."""
    from webhooks.api import bp
    from webhooks.api.spec import openapi_document

    document = openapi_document(bp.url_prefix or "")
    patterns = set(_patterns(document["paths"])) | set(_patterns(document["components"]["schemas"]))
    assert NO_NUL in patterns and len(patterns) > 3
    for pattern in patterns:
        _assert_excludes_nul(pattern)


def _assert_excludes_nul(pattern: str) -> None:
    """No string the pattern matches stays matched with a NUL put anywhere into it."""
    from hypothesis import HealthCheck, settings

    @settings(max_examples=25, suppress_health_check=list(HealthCheck), database=None)
    @given(st.from_regex(pattern, fullmatch=True))
    def with_nul_inserted(text):
        for i in range(len(text) + 1):
            assert not re.fullmatch(pattern, text[:i] + "\x00" + text[i:]), pattern

    with_nul_inserted()
