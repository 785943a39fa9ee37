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
