import pytest

from mappings import MappingError, load_mapping, parse_mapping, shipped_names

GOOD = """\
version: 1
kind: spreadsheet
name: t
customer:
  external_id: Code
  name: {column: Name}
receivable:
  external_id: Invoice
  amount_total: Amount
  due_on: Due
"""


def test_shipped_mappings_are_valid():
    assert {"spreadsheet", "spreadsheet-zh"} <= set(shipped_names())
    for name in shipped_names():
        mapping = load_mapping(name)
        assert mapping.customer.external_id.column or mapping.customer.external_id.path


def test_shorthand_column():
    mapping = parse_mapping(GOOD, "t.yaml")
    assert mapping.customer.external_id.column == "Code"
    assert mapping.columns() == {"Code", "Name", "Invoice", "Amount", "Due"}


def test_unknown_field_names_file_line_and_field():
    text = GOOD.replace("  name: {column: Name}", "  name: {column: Name}\n  nmae: {column: Other}")
    with pytest.raises(MappingError) as info:
        parse_mapping(text, "my-map.yaml")
    (issue,) = info.value.issues
    assert (issue.filename, issue.line, issue.field) == ("my-map.yaml", 7, "customer.nmae")
    assert "unknown field" in issue.message
    assert str(issue).startswith("my-map.yaml:7: customer.nmae")


def test_unknown_key_inside_a_field_spec():
    text = GOOD.replace("{column: Name}", "{column: Name, colour: red}")
    with pytest.raises(MappingError) as info:
        parse_mapping(text, "m.yaml")
    assert info.value.issues[0].line == 6
    assert info.value.issues[0].field == "customer.name.colour"


def test_missing_required_field_is_reported_at_its_section():
    text = GOOD.replace("  due_on: Due\n", "")
    with pytest.raises(MappingError) as info:
        parse_mapping(text, "m.yaml")
    issue = info.value.issues[0]
    assert issue.field == "receivable.due_on" and issue.line == 7


def test_yaml_syntax_error_has_a_line():
    with pytest.raises(MappingError) as info:
        parse_mapping("kind: spreadsheet\ncustomer: [unclosed\n", "bad.yaml")
    assert info.value.issues[0].line is not None


def test_every_issue_is_reported_at_once():
    text = GOOD.replace("kind: spreadsheet", "kind: spreadsheet\nbogus: 1").replace(
        "due_on: Due", "due_on: {}"
    )
    with pytest.raises(MappingError) as info:
        parse_mapping(text, "m.yaml")
    assert len(info.value.issues) >= 2


def test_unknown_mapping_name_lists_shipped():
    with pytest.raises(MappingError, match="spreadsheet-zh"):
        load_mapping("no-such-mapping")
