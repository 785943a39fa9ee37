"""An org's own template texts: checked before they are stored, versioned, used when sending
for that org only, on SQLite and PostgreSQL."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from dunlin.db import transaction
from dunlin.orgs import get_org
from reminders.models import TemplateOverride
from reminders.planning.planner import plan
from reminders.planning.policy_store import active_policy, save_version
from reminders.sending.dispatch import send_due
from reminders.sending.overrides import (
    OverrideKey,
    TemplateInvalid,
    current_overrides,
    history,
    save_override,
)
from sync.importer import import_file
from tests.integration.helpers import row, write_sheet
from tests.integration.test_cycle import Recorder

TODAY = date(2026, 12, 1)
TODAY_NOON = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
SUBJECT = OverrideKey("reminder", "*", "zh_CN", "subject")


def _org_id(app, slug="acme") -> int:
    with app.factory() as session:
        return get_org(session, slug).id


def _save(app, key: OverrideKey, text: str, slug="acme", by="test") -> TemplateOverride:
    with transaction(app.factory) as session:
        row = save_override(session, _org_id(app, slug), key, text, by)
        session.expunge(row)
        return row


def test_versions_are_kept_and_the_newest_wins(app):
    first = _save(app, SUBJECT, "催款：{{ customer.name }}", by="alice")
    same = _save(app, SUBJECT, "催款：{{ customer.name }}", by="alice")  # unchanged: no new row
    second = _save(app, SUBJECT, "请付款：{{ total|money(currency) }}", by="bob")
    assert (first.version, same.version, second.version) == (1, 1, 2)
    with app.factory() as session:
        org_id = _org_id(app)
        assert current_overrides(session, org_id) == {
            ("reminder", "*", "zh_CN", "subject"): "请付款：{{ total|money(currency) }}"
        }
        assert [(r.version, r.created_by) for r in history(session, org_id, SUBJECT)] == [
            (2, "bob"),
            (1, "alice"),
        ]
        assert current_overrides(session, _org_id(app, "other")) == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("第一行\n{% if %}", "line 2: "),
        ("ok\n\n{{ customer.nmae }}", "line 3: UndefinedError"),
        ("{{ customer.__class__.__mro__ }}", "SecurityError"),
        ("{{ invoices[0].amount_open|money }}", "TypeError"),
        ("   ", "empty"),
        (
            "x\n{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}",
            "line 2: TooMuchWork",
        ),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "RecursionError"),
    ],
)
def test_a_broken_text_is_refused_with_its_line_and_nothing_is_stored(app, text, expected):
    with pytest.raises(TemplateInvalid) as caught:
        _save(app, SUBJECT, text)
    assert any(expected in e for e in caught.value.errors), caught.value.errors
    with app.factory() as session:
        assert session.scalars(select(TemplateOverride)).all() == []


def test_bad_keys_are_refused():
    for key in (
        OverrideKey("Reminder!", "*", "zh_CN", "subject"),
        OverrideKey("reminder", "fax", "zh_CN", "subject"),
        OverrideKey("reminder", "*", "fr_FR", "subject"),
        OverrideKey("reminder", "*", "zh_CN", "footer"),
    ):
        with pytest.raises(TemplateInvalid):
            key.check()


@pytest.fixture
def planned(app, tmp_path):
    """C1 (acme) and C9 (other), each owed one invoice 10 days overdue and planned for email
    (the sheet's customers read English)."""
    for slug, customer in (("acme", "C1"), ("other", "C9")):
        rows = [row(customer, f"INV-{customer}", "2026-11-21", "100")]
        import_file(app.factory, slug, write_sheet(tmp_path / f"{slug}.csv", rows), "spreadsheet")
        plan(app.factory, slug, TODAY)
    return app


def test_the_dispatcher_renders_the_orgs_override_for_its_channel(planned):
    _save(
        planned,
        OverrideKey("reminder", "*", "en_US", "subject"),
        "【自定义】{{ customer.name }} 合计 {{ total|money(currency) }}",
    )
    _save(planned, OverrideKey("reminder", "sms", "en_US", "subject"), "短信专用 {{ org.name }}")
    _save(planned, OverrideKey("reminder", "email", "en_US", "html"), "<p>{{ customer.name }}</p>")
    sent = {}
    for slug in ("acme", "other"):
        recorder = Recorder()
        send_due(planned.factory, slug, TODAY_NOON, lambda _n, r=recorder: r)
        [sent[slug]] = recorder.sent
    acme, other = sent["acme"], sent["other"]
    assert acme.channel == "email" and acme.subject.startswith(
        "【自定义】Customer C1 合计 CN¥100.00"
    )
    assert acme.html == "<p>Customer C1</p>"  # the email's own text wins over "*"
    assert "Customer C1" in acme.text  # parts not overridden stay the shipped ones
    assert not other.subject.startswith("【自定义】")  # another org's override is not used


def test_html_overrides_are_autoescaped(planned):
    key = OverrideKey("reminder", "*", "en_US", "html")
    _save(planned, key, "<p>{{ customer.name }}</p>")
    with transaction(planned.factory) as session:
        from sync.models import Customer

        session.scalars(select(Customer).where(Customer.external_id == "C1")).one().name = "<b>x"
    recorder = Recorder()
    send_due(planned.factory, "acme", TODAY_NOON, lambda _n: recorder)
    assert recorder.sent[0].html == "<p>&lt;b&gt;x</p>"


def test_a_policy_may_use_a_template_name_the_org_added(planned):
    policy = """\
name: gentle
tracks:
  - name: all
    steps:
      - {name: soft, offset_days: 1, channels: [email], template: gentle}
"""
    with transaction(planned.factory) as session, pytest.raises(Exception, match="gentle"):
        save_version(session, _org_id(planned), policy, "p.yaml")
    _save(planned, OverrideKey("gentle", "*", "zh_CN", "subject"), "温和提醒 {{ customer.name }}")
    with transaction(planned.factory) as session:
        save_version(session, _org_id(planned), policy, "p.yaml")
    with planned.factory() as session:
        assert active_policy(session, _org_id(planned)).policy.name == "gentle"
