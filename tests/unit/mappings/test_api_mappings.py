"""API mappings: kind-specific schemas, JMESPath paths, the fields a mapping reads."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from mappings import MappingError, load_mapping, parse_mapping, resolve
from mappings.coerce import parse_datetime
from mappings.paths import field_paths, root_fields
from mappings.transform import RecordTransformer


def test_field_paths_are_the_chains_read_from_the_record_root():
    assert field_paths("mobile || phone") == {"mobile", "phone"}
    assert field_paths("currency_id.name") == {"currency_id.name"}
    assert field_paths("FCUSTOMERID.FNumber") == {"FCUSTOMERID.FNumber"}
    assert field_paths("state == 'posted' && payment_state || state") == {"state", "payment_state"}
    assert field_paths("lines[0].amount") == {"lines"}
    assert field_paths("join(',', tags[].name)") == {"tags"}


def test_odoo_mapping_reads_explicit_fields():
    mapping = load_mapping("odoo")
    assert {"amount_residual", "invoice_date_due", "commercial_partner_id"} <= root_fields(
        mapping, "receivables"
    )
    assert "mobile" in root_fields(mapping, "customers")


def test_bad_jmespath_is_reported_with_its_line():
    text = resolve("odoo").read_text().replace("  email: email", "  email: {path: 'email[['}")
    with pytest.raises(MappingError) as info:
        parse_mapping(text, "o.yaml")
    (issue,) = info.value.issues
    assert issue.field == "customer.email.path" and "JMESPath" in issue.message
    assert issue.line == text.splitlines().index("  email: {path: 'email[['}") + 1


def test_unknown_key_in_the_source_section_names_its_line():
    text = resolve("odoo").read_text().replace("  page_size: 500", "  page_sise: 500")
    with pytest.raises(MappingError) as info:
        parse_mapping(text, "o.yaml")
    assert [i.field for i in info.value.issues] == ["source.page_sise"]


def test_receivables_must_name_their_customer():
    text = (
        resolve("odoo").read_text().replace("  customer_external_id: commercial_partner_id\n", "")
    )
    with pytest.raises(MappingError, match="customer_external_id"):
        parse_mapping(text, "o.yaml")


def test_odoo_invoice_record_becomes_a_receivable():
    t = RecordTransformer(load_mapping("odoo"), "receivables")
    record = {
        "id": 7,
        "name": "INV/1",
        "move_type": "out_invoice",
        "state": "posted",
        "payment_state": "blocked",
        "amount_total": 113.0,
        "amount_residual": 13.5,
        "invoice_date": "2026-11-01",
        "invoice_date_due": "2026-12-01",
        "commercial_partner_id": 42,
        "invoice_user_id": False,
        "currency_id": {"id": 1, "name": "CNY"},
        "write_date": "2026-11-02 03:04:05",
    }
    out, errors = t.transform(record)
    assert errors == []
    assert out["status"] == "disputed"  # blocked = payment on hold
    assert out["amount_open"] == Decimal("13.5") and out["currency"] == "CNY"
    assert out["customer_external_id"] == "42" and "salesperson_ref" not in out
    assert out["source_updated_at"] == datetime(2026, 11, 2, 3, 4, 5, tzinfo=UTC)
    unknown, _ = t.transform({**record, "payment_state": "something_new"})
    assert unknown["status"] == "open"  # tolerated, via the mapping's fallback
    settled, _ = t.transform({**record, "payment_state": "partial", "amount_residual": 0.0})
    assert settled["status"] == "paid"  # an open amount of zero is a payment
    refund, _ = t.transform({**record, "move_type": "out_refund"})
    assert refund["do_not_remind"] is True


def test_parse_datetime_reads_naive_values_in_the_source_zone():
    assert parse_datetime("2026-01-28T08:00:00", "Asia/Shanghai") == datetime(
        2026, 1, 28, 0, 0, tzinfo=UTC
    )
    assert parse_datetime("2026-01-28T08:00:00Z") == datetime(2026, 1, 28, 8, tzinfo=UTC)
    assert parse_datetime(1_714_550_400_000) == datetime(2024, 5, 1, 8, tzinfo=UTC)
    with pytest.raises(ValueError, match="not a date and time"):
        parse_datetime("soon")
