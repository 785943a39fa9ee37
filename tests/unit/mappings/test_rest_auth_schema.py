"""The `auth:` section of a REST mapping: one model per scheme, chosen by `type`, each with
exactly its fields; errors keep the file's line and key path."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunlin.yamlsource import _yaml_path
from mappings import MappingError, load_mapping, parse_mapping
from mappings.api import AUTH_MODELS, BearerAuth, FxiaokeAuth, YonSuiteAuth

TEXT = """\
version: 1
kind: rest
name: crm
source:
  auth:
{auth}
  customers: {{path: /c}}
  receivables: {{path: /r}}
customer:
  external_id: id
  name: name
"""


def parse(*auth_lines: str):
    body = "\n".join(f"    {line}" for line in auth_lines)
    return parse_mapping(TEXT.format(auth=body), "crm.yaml")


def issues(*auth_lines: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(MappingError) as info:
        parse(*auth_lines)
    return [(i.line, i.field, i.message) for i in info.value.issues]


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("jiandaoyun", "BearerAuth"),
        ("yonsuite", "YonSuiteAuth"),
        ("fxiaoke", "FxiaokeAuth"),
        ("xbongbong", "XbongbongAuth"),
        ("kingdee-jdy", "KingdeeJdyAuth"),
    ],
)
def test_shipped_mappings_pick_their_scheme(name, model):
    assert type(load_mapping(name).source.auth).__name__ == model


def test_a_section_without_type_is_bearer_as_it_always_was():
    auth = parse("header: X-Key").source.auth
    assert isinstance(auth, BearerAuth) and auth.header == "X-Key" and auth.prefix == "Bearer "


def test_no_auth_section_is_bearer():
    text = TEXT.format(auth="    type: none").replace("  auth:\n    type: none\n", "")
    assert isinstance(parse_mapping(text, "crm.yaml").source.auth, BearerAuth)


def test_each_scheme_takes_its_own_fields():
    auth = parse("type: yonsuite", "token_in: header", "refresh_margin: 60").source.auth
    assert isinstance(auth, YonSuiteAuth) and auth.token_in == "header"
    assert auth.refresh_margin == 60 and auth.app_type == "self_built"


def test_a_field_of_another_scheme_is_an_unknown_field_on_its_line():
    # A flat model accepted this and ignored it: the token would never be fetched.
    assert issues("type: bearer", "token_url: /oauth/token") == [
        (7, "source.auth.token_url", "unknown field / 未知字段")
    ]


def test_an_unknown_type_names_the_known_ones():
    ((line, field, message),) = issues("type: oauth3")
    assert (line, field) == (6, "source.auth.type")
    assert "oauth3" not in AUTH_MODELS and all(name in message for name in AUTH_MODELS)


def test_a_missing_required_field_is_named_on_its_section_line():
    assert issues("type: fxiaoke", "refresh_margin: 60") == [
        (5, "source.auth.token_url", "required field is missing / 缺少必填字段")
    ]
    assert issues("type: token_endpoint") == [
        (5, "source.auth.token_url", "required field is missing / 缺少必填字段")
    ]


def test_a_bad_value_is_on_its_own_line():
    ((line, field, _message),) = issues("type: yonsuite", "app_type: both")
    assert (line, field) == (7, "source.auth.app_type")


def test_every_scheme_has_a_model_whose_type_is_its_tag():
    for tag, model in AUTH_MODELS.items():
        assert model.model_fields["type"].annotation.__args__ == (tag,)
    assert FxiaokeAuth.model_fields["token_url"].is_required()


keys = st.text(alphabet="abcdefgh_", min_size=1, max_size=5)


@given(
    st.recursive(
        st.dictionaries(keys, st.integers(), max_size=3),
        lambda c: st.dictionaries(keys, c, max_size=3),
        max_leaves=12,
    ),
    st.data(),
)
def test_a_location_of_real_keys_is_left_as_it_is(document, data):
    """Only a union's tag, which is never a key of the file, is dropped from a location."""
    path: list[str] = []
    node = document
    while isinstance(node, dict) and node and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(node)))
        path.append(key)
        node = node[key]
    assert _yaml_path(document, tuple(path)) == tuple(path)
    missing = data.draw(keys)
    if not isinstance(node, dict) or missing not in node:  # a missing key, always last
        assert _yaml_path(document, (*path, missing)) == (*path, missing)
