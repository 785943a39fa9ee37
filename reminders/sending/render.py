"""Render reminder templates in Jinja's sandbox, with money and dates formatted per locale.

Templates live in reminders/sending/templates/<name>/<locale>/ as subject.txt.j2, body.txt.j2,
body.html.j2 (autoescaped) and short.txt.j2 (SMS and chat). A missing locale falls back to
the org's language, then to zh_CN. An org may override any part per channel and locale
(reminders/sending/overrides.py): `render` takes the org's overrides, a channel's own text
winning over one for every channel ("*"), which wins over the shipped file. A template name
the org added starts from the shipped `reminder` for the parts it does not define.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    Template,
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


# A template's parts: the name an override uses → the shipped file's stem.
PARTS = {"subject": "subject.txt", "text": "body.txt", "html": "body.html", "short": "short.txt"}
ANY_CHANNEL = "*"
BASE_TEMPLATE = "reminder"  # what a template name an org adds starts from
# (name, channel or "*", locale, part) → template source: an org's current overrides.
Overrides = Mapping[tuple[str, str, str, str], str]
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
        self._shipped = {p.name for p in directory.iterdir() if p.is_dir()}
        self._compiled: dict[tuple[str, str, str], Template] = {}  # overrides, by source

    def compile(self, locale: str, part: str, source: str) -> Template:
        """An override's source, compiled once (the HTML part autoescaped, like the file)."""
        key = (locale, part, source)
        found = self._compiled.get(key)
        if found is None:
            if len(self._compiled) >= 512:  # sources are few; edits leave old ones behind
                self._compiled.clear()
            wrapped = f"{{% autoescape true %}}{source}{{% endautoescape %}}"
            found = self._envs[locale].from_string(wrapped if part == "html" else source)
            self._compiled[key] = found
        return found

    def source_of(
        self,
        template: str,
        locale: str,
        part: str,
        channel: str | None = None,
        overrides: Overrides | None = None,
    ) -> tuple[str, str]:
        """(where, text): the text a part is rendered from, for `templates show`."""
        if overrides:
            for scope in (channel, ANY_CHANNEL) if channel else (ANY_CHANNEL,):
                text = overrides.get((template, scope, locale, part))
                if text is not None:
                    return f"override ({scope})", text
        name = self._file_name(template, overrides)
        env = self._envs[locale]
        loader = env.loader
        assert loader is not None
        path = f"{name}/{locale}/{PARTS[part]}.j2"
        try:
            text, _filename, _uptodate = loader.get_source(env, path)
        except TemplateNotFound as exc:
            raise LookupError(f"template {template!r} has no {locale} {part} ({exc})") from exc
        return f"shipped ({path})", text

    def _file_name(self, template: str, overrides: Overrides | None) -> str:
        """The shipped folder a part falls back to: a name the org added starts from
        `reminder`; any other unknown name stays unknown (a clear LookupError)."""
        if template in self._shipped or not overrides:
            return template
        added = any(key[0] == template for key in overrides)
        return BASE_TEMPLATE if added else template

    def _part(
        self,
        template: str,
        locale: str,
        part: str,
        channel: str | None,
        overrides: Overrides | None,
    ) -> Template:
        if overrides:
            for scope in (channel, ANY_CHANNEL) if channel else (ANY_CHANNEL,):
                source = overrides.get((template, scope, locale, part))
                if source is not None:
                    return self.compile(locale, part, source)
        name = self._file_name(template, overrides)
        try:
            return self._envs[locale].get_template(f"{name}/{locale}/{PARTS[part]}.j2")
        except TemplateNotFound as exc:
            raise LookupError(f"template {template!r} has no {locale} {part} ({exc})") from exc

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
        *,
        channel: str | None = None,
        overrides: Overrides | None = None,
    ) -> Rendered:
        """All four parts; `memo` (one per message) lets them share formatted amounts;
        `overrides` (the org's) replace shipped parts, those for `channel` first."""
        parts = {}
        extra = {"locale": locale, MONEY_MEMO: {} if memo is None else memo}
        for part in PARTS:
            compiled = self._part(template, locale, part, channel, overrides)
            parts[part] = compiled.render(context, **extra)
        return Rendered(
            locale,
            parts["subject"].strip(),
            parts["text"].strip() + "\n",
            parts["html"],
            parts["short"].strip(),
        )
