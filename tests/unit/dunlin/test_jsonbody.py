"""JSON from strangers: depth is bounded before parsing, non-finite numbers are refused."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunlin.jsonbody import MAX_JSON_DEPTH, JsonRefused, loads, nesting_depth

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    # strings full of brackets and escapes must not count as nesting
    | st.text(alphabet=st.sampled_from('[]{}"\\ab\u00e9\x01'), max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=30,
)


def depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@given(json_values)
def test_nesting_depth_is_the_true_depth(value):
    raw = json.dumps(value, ensure_ascii=False).encode()
    assert nesting_depth(raw) == depth(value)


@given(json_values)
def test_loads_agrees_with_json_within_the_bound(value):
    raw = json.dumps(value, ensure_ascii=False).encode()
    if depth(value) <= 3:
        assert loads(raw, max_depth=3) == json.loads(raw)
    else:
        with pytest.raises(JsonRefused) as refused:
            loads(raw, max_depth=3)
        assert refused.value.code == "too_deep"


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_100000_deep_is_refused_before_parsing(opener):
    raw = (opener * 100_000).encode()
    with pytest.raises(JsonRefused) as refused:
        loads(raw)
    assert refused.value.code == "too_deep"
    assert str(MAX_JSON_DEPTH) in refused.value.reason


@pytest.mark.parametrize(
    "raw", [b"NaN", b'{"a": Infinity}', b"[-Infinity]", b"1e400", b"\xff\xfe{", b"{", b"1" * 5000]
)
def test_non_finite_and_malformed_are_bad_json(raw):
    with pytest.raises(JsonRefused) as refused:
        loads(raw)
    assert refused.value.code == "bad_json"
