"""Compiled paths agree with the jmespath interpreter (property-based)."""

from __future__ import annotations

import jmespath
from hypothesis import given
from hypothesis import strategies as st

from mappings.fastpath import compile_path

EXPRESSIONS = [
    "a",
    "a.b",
    "a.b.c",
    "a || b",
    "a && b",
    "!a",
    "a == b",
    "a != `1`",
    "a.b || c",
    "a == 'x' && b || c",
    "a > b",
    "a <= `2`",
    "a[0]",  # not in the subset: falls back to the interpreter
]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "x", "y"]), st.floats(-2, 2)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=2), st.dictionaries(st.sampled_from("abc"), inner, max_size=3)
    ),
    max_leaves=6,
)
records = st.dictionaries(st.sampled_from("abc"), values, max_size=3)


@given(records)
def test_compiled_paths_match_jmespath(record):
    for expression in EXPRESSIONS:
        try:
            expected = jmespath.search(expression, record)
        except TypeError:  # the interpreter raises on `"x" <= 2`; the spec (and we) say null
            expected = None
        assert compile_path(expression)(record) == expected, expression
