from datetime import date
from decimal import Decimal

import pytest
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from reminders.sending.render import Renderer, format_day, format_money

CONTEXT = {
    "tone": "firm",
    "customer": {"name": "<b>Acme</b> 公司"},
    "salesperson_name": "张伟",
    "currency": "CNY",
    "total": Decimal("1234.5"),
    "days_overdue": 12,
    "overdue_count": 1,
    "due_soon_count": 0,
    "payment_url": "https://pay/x",
    "self_service_url": None,
    "click_url": None,
    "unsubscribe_url": None,
    "short_url": None,
    "org": {"name": "Demo"},
    "invoices": [
        {
            "number": "AR-1",
            "amount_open": Decimal("1234.5"),
            "due_on": date(2026, 3, 5),
            "days_overdue": 12,
        }
    ],
}


def test_money_and_dates_per_locale():
    assert format_money(Decimal("1234.5"), "CNY", "zh_CN") == "¥1,234.50"
    assert format_day(date(2026, 3, 5), "zh_CN") == "2026年3月5日"
    assert format_day(date(2026, 3, 5), "en_US") == "March 5, 2026"


def test_renders_both_locales_with_every_part():
    renderer = Renderer()
    zh = renderer.render("reminder", "zh_CN", CONTEXT)
    assert "¥1,234.50" in zh.subject and "逾期 12 天" in zh.text and "2026年3月5日" in zh.text
    assert "https://pay/x" in zh.short
    en = renderer.render("reminder", "en_US", CONTEXT)
    assert "12 days overdue" in en.text and "March 5, 2026" in en.text


def test_html_is_escaped_and_text_is_not():
    rendered = Renderer().render("reminder", "zh_CN", CONTEXT)
    assert "&lt;b&gt;Acme&lt;/b&gt;" in rendered.html
    assert "<b>Acme</b>" in rendered.text


def test_locale_fallback():
    renderer = Renderer()
    assert renderer.pick_locale("fr_FR", "en_US") == "en_US"
    assert renderer.pick_locale(None, None) == "zh_CN"


def test_templates_run_in_the_sandbox():
    env = Renderer()._envs["zh_CN"]
    assert isinstance(env, SandboxedEnvironment)
    with pytest.raises(SecurityError):
        env.from_string("{{ customer.__class__.__mro__ }}").render(customer={"name": "x"}.get)
