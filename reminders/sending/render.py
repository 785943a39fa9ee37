"""Render reminder templates in Jinja's sandbox, with money and dates formatted per locale.

Templates live in reminders/sending/templates/<name>/<locale>/ as subject.txt.j2, body.txt.j2,
body.html.j2 (autoescaped) and short.txt.j2 (SMS and chat). A missing locale falls back to
the org's language, then to zh_CN.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency
from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

TEMPLATES = Path(__file__).parent / "templates"


def shipped_templates() -> set[str]:
    """The template names a policy may use: one folder each."""
    return {p.name for p in TEMPLATES.iterdir() if p.is_dir()}


LOCALES = ("zh_CN", "en_US")
FALLBACK_LOCALE = "zh_CN"
MONEY_MEMO = "_money_memo"  # in the render context: amounts this message already formatted


@dataclass(frozen=True)
class Rendered:
    locale: str
    subject: str
    text: str
    html: str
    short: str


@lru_cache(maxsize=32)
def babel_locale(locale: str) -> Locale:
    """Parsed once: given a string, Babel parses and normalises the locale on every call,
    which was a quarter of the time it took to send a reminder."""
    return Locale.parse(locale)


def format_money(
    amount: Decimal, currency: str, locale: str, memo: dict[Any, str] | None = None
) -> str:
    """`memo` remembers what one message has formatted: its total usually reappears in the
    subject, both bodies and the short text, and Babel takes ~50 µs a call."""
    if memo is None:
        return format_currency(amount, currency, locale=babel_locale(locale))
    key = (amount, currency, locale)
    found = memo.get(key)
    if found is None:
        found = memo[key] = format_currency(amount, currency, locale=babel_locale(locale))
    return found


def format_day(day: date, locale: str) -> str:
    return format_date(day, format="long", locale=babel_locale(locale))


class Renderer:
    def __init__(self, directory: Path = TEMPLATES) -> None:
        self._envs = {locale: self._env(directory, locale) for locale in LOCALES}

    @staticmethod
    def _env(directory: Path, locale: str) -> SandboxedEnvironment:
        env = SandboxedEnvironment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
            undefined=StrictUndefined,
            trim_blocks=False,
            keep_trailing_newline=False,
        )

        @pass_context
        def money(ctx: Context, amount: Any, currency: str) -> str:
            return format_money(Decimal(amount), currency, locale, ctx.get(MONEY_MEMO))

        env.filters["money"] = money
        env.filters["date"] = lambda day: format_day(day, locale)
        return env

    def pick_locale(self, wanted: str | None, org_default: str | None) -> str:
        for candidate in (wanted, org_default, FALLBACK_LOCALE):
            if candidate in LOCALES:
                return candidate
        return FALLBACK_LOCALE

    @staticmethod
    def variables(
        context: dict[str, Any], locale: str, memo: dict[Any, str] | None = None
    ) -> dict[str, str]:
        """Flat strings for approved provider templates (SMS, WeChat): every value a string,
        money and dates already formatted, because providers reject anything else."""
        invoices = context.get("invoices") or []
        currency = context.get("currency") or ""
        oldest = invoices[0] if invoices else None
        return {
            "org_name": str(context.get("org", {}).get("name") or ""),
            "customer_name": str(context.get("customer", {}).get("name") or ""),
            "salesperson_name": str(context.get("salesperson_name") or ""),
            "total": format_money(Decimal(context.get("total") or 0), currency, locale, memo)
            if currency
            else str(context.get("total") or ""),
            "amount": format(Decimal(context.get("total") or 0), ",.2f"),
            "currency": currency,
            "days_overdue": str(context.get("days_overdue", "")),
            "invoice_count": str(len(invoices)),
            "invoice_numbers": ", ".join(str(i["number"]) for i in invoices),
            "first_invoice": str(oldest["number"]) if oldest else "",
            "oldest_due_on": format_day(oldest["due_on"], locale) if oldest else "",
            "payment_url": str(context.get("payment_url") or ""),
            "self_service_url": str(context.get("self_service_url") or ""),
            "click_url": str(context.get("click_url") or ""),
            "unsubscribe_url": str(context.get("unsubscribe_url") or ""),
            "short_url": str(context.get("short_url") or ""),
        }

    def render(
        self,
        template: str,
        locale: str,
        context: dict[str, Any],
        memo: dict[Any, str] | None = None,
    ) -> Rendered:
        """All four parts; `memo` (one per message) lets them share formatted amounts."""
        env = self._envs[locale]
        parts = {}
        extra = {"locale": locale, MONEY_MEMO: {} if memo is None else memo}
        for part in ("subject.txt", "body.txt", "body.html", "short.txt"):
            try:
                parts[part] = env.get_template(f"{template}/{locale}/{part}.j2").render(
                    context, **extra
                )
            except TemplateNotFound as exc:
                raise LookupError(f"template {template!r} has no {locale} {part} ({exc})") from exc
        return Rendered(
            locale,
            parts["subject.txt"].strip(),
            parts["body.txt"].strip() + "\n",
            parts["body.html"],
            parts["short.txt"].strip(),
        )
