"""Every shipped template carries the links its channel can hold, and says what its list holds.

Email (subject, text, HTML): the self-service page, the pay link when the source gives one (through
the click tracker), and the unsubscribe link. SMS / chat (short): one short link, within the
budget of `reminders.sending.sms.MAX_SEGMENTS` segments.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reminders.sending.links import base36
from reminders.sending.render import Renderer, shipped_templates
from reminders.sending.sms import MAX_SEGMENTS, sms_length, sms_segments

TODAY = date(2026, 12, 1)
BASE = "https://pay.example.com"
LINKS = {
    "self_service_url": f"{BASE}/s/TOKEN-PAGE",
    "click_url": f"{BASE}/c/TOKEN-CLICK",
    "unsubscribe_url": f"{BASE}/u/TOKEN-UNSUB",
    "short_url": f"{BASE}/m/1.2s.AbCdEfGhIjK",
}
URL = re.compile(r"https?://\S+")


def context(days: list[int], payment_url: str | None = "https://erp.example/pay/1", **over):
    """A message listing invoices `days` overdue (negative: due in that many days)."""
    invoices = [
        {
            "number": f"AR-{n}",
            "amount_open": Decimal("1000"),
            "amount_total": Decimal("1000"),
            "due_on": TODAY - timedelta(days=d),
            "issued_on": None,
            "days_overdue": d,
        }
        for n, d in enumerate(sorted(days, reverse=True))
    ]
    overdue = sum(1 for d in days if d > 0)
    base = {
        "org": {"name": "示例贸易"},
        "customer": {"name": "上海华信", "external_id": "C1"},
        "salesperson_name": "张伟",
        "tone": "courtesy",
        "currency": "CNY",
        "total": Decimal(1000 * len(days)),
        "days_overdue": max(0, max(days)),
        "payment_url": payment_url,
        "overdue_count": overdue,
        "due_soon_count": len(days) - overdue,
        "invoices": invoices,
        **dict.fromkeys(LINKS),
    }
    return {**base, **over}


CASES = [(name, locale) for name in sorted(shipped_templates()) for locale in ("zh_CN", "en_US")]


@pytest.mark.parametrize(("name", "locale"), CASES)
def test_email_parts_carry_the_page_the_pay_link_and_unsubscribe(name, locale):
    rendered = Renderer().render(name, locale, context([3], **LINKS))
    for part in (rendered.text, rendered.html):
        assert LINKS["self_service_url"] in part
        assert LINKS["unsubscribe_url"] in part
    if name == "reminder":  # paying is the point; a thank-you has nothing left to pay
        assert LINKS["click_url"] in rendered.text and LINKS["click_url"] in rendered.html


@pytest.mark.parametrize(("name", "locale"), CASES)
def test_sms_carries_exactly_one_short_link(name, locale):
    short = Renderer().render(name, locale, context([3], **LINKS)).short
    assert URL.findall(short) == [LINKS["short_url"]]


@pytest.mark.parametrize("locale", ["zh_CN", "en_US"])
def test_without_a_public_url_the_pay_link_is_the_one_link(locale):
    rendered = Renderer().render("reminder", locale, context([3]))
    assert URL.findall(rendered.short) == ["https://erp.example/pay/1"]
    assert "/s/" not in rendered.text and "/u/" not in rendered.html
    bare = Renderer().render("reminder", locale, context([3], payment_url=None))
    assert URL.findall(bare.short) == [] and "http" not in bare.text


@pytest.mark.parametrize(
    ("days", "zh", "en"),
    [
        ([-2, -5], "2 笔款项即将到期", "2 invoice(s) due soon"),
        ([2, -5], "1 笔款项已逾期、1 笔即将到期", "1 invoice(s) overdue and 1 due soon"),
        ([2, 9], "2 笔款项已逾期", "2 invoice(s) overdue"),
    ],
)
@pytest.mark.parametrize("tone", ["courtesy", "friendly", "firm", "final"])
def test_subject_says_what_the_list_holds(days, zh, en, tone):
    renderer = Renderer()
    zh_subject = renderer.render("reminder", "zh_CN", context(days, tone=tone)).subject
    en_subject = renderer.render("reminder", "en_US", context(days, tone=tone)).subject
    assert zh in zh_subject and en in en_subject
    if any(d > 0 for d in days):
        assert "即将到期" not in zh_subject.replace(zh, "")
    else:
        assert "逾期" not in zh_subject and "overdue" not in en_subject.lower()


def test_courtesy_body_does_not_call_an_overdue_invoice_due_soon():
    text = Renderer().render("reminder", "zh_CN", context([2, -5])).text
    assert "以下款项即将到期" not in text and "1 笔已逾期" in text


def test_segment_counting():
    assert sms_segments("a" * 160) == 1 and sms_segments("a" * 161) == 2
    assert sms_segments("中" * 70) == 1 and sms_segments("中" * 71) == 2
    assert sms_segments("中" * 134) == 2 and sms_segments("中" * 135) == 3
    assert sms_length("€") == ("gsm7", 2)


CJK = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1, max_size=12)
ASCII = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ&.-#0123456789"), min_size=1)
# any name a customer may have: CJK, Latin, mixed, up to 40 characters
NAME = st.text(
    st.sampled_from("上海华信贸易有限公司（）Acme Ltd.&-#0123456789"), min_size=1, max_size=40
)


def worst_links(org_id: int, reminder_id: int) -> dict[str, str]:
    """A public URL of 24 characters and a short code as long as the ids make it."""
    code = f"{base36(org_id)}.{base36(reminder_id)}.AbCdEfGhIjK"
    return {**LINKS, "short_url": f"https://pay.example-a.cn/m/{code}"}


@settings(max_examples=200, deadline=None)
@given(
    org=st.one_of(CJK, ASCII.map(lambda s: s[:24])),
    customer=NAME,
    overdue=st.integers(0, 99),
    soon=st.integers(0, 99),
    total=st.decimals(0, Decimal("99999999.99"), places=2),
    ids=st.tuples(st.integers(1, 36**3 - 1), st.integers(1, 36**6 - 1)),
    name=st.sampled_from(sorted(shipped_templates())),
    locale=st.sampled_from(["zh_CN", "en_US"]),
    currency=st.sampled_from(["CNY", "USD", "EUR"]),
)
def test_sms_fits_the_segment_budget(
    org, customer, overdue, soon, total, ids, name, locale, currency
):
    """Budget: 2 segments whatever the encoding (134 UCS-2 or 306 GSM-7 characters), for org
    names of up to 12 CJK or 24 Latin characters, any customer name (the Chinese text shortens
    it to 16 characters, the English one leaves it out), up to 99 invoices of each kind, any
    amount below 100 million, ids up to 46,655 (org) and 2.1 billion (reminder) and a public
    URL of 24 characters (`https://pay.example.com`)."""
    ctx = context([2], **worst_links(*ids))
    ctx.update(
        org={"name": org},
        customer={"name": customer, "external_id": "C"},
        overdue_count=overdue,
        due_soon_count=soon or (0 if overdue else 1),
        total=total,
        currency=currency,
    )
    short = Renderer().render(name, locale, ctx).short
    assert sms_segments(short) <= MAX_SEGMENTS, (sms_length(short), short)


@pytest.mark.parametrize(("name", "locale"), CASES)
@pytest.mark.parametrize("currency", ["CNY", "USD", "EUR"])
def test_the_longest_sms_still_fits(name, locale, currency):
    """Every bound of the budget at once (the property test may not hit them together)."""
    ctx = context([2], **worst_links(36**3 - 1, 36**6 - 1))
    ctx.update(
        org={"name": "国" * 12},
        customer={"name": "上海华信国际贸易有限公司深圳分公司（第一百号）", "external_id": "C"},
        overdue_count=99,
        due_soon_count=99,
        total=Decimal("99999999.99"),
        currency=currency,
    )
    short = Renderer().render(name, locale, ctx).short
    assert sms_segments(short) <= MAX_SEGMENTS, (sms_length(short), short)
