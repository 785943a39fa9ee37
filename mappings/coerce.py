"""Turn raw spreadsheet/API values into typed Dunlin values. Pure functions, no I/O.

Each parser raises ValueError with a message a person can read; callers add the row and column.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from dunlin.vocabulary import CHANNELS, TIERS

# A year-month-day date with any usual separator: 2026-03-05, 2026/3/5, 2026.3.5, 2026年3月5日
_YMD = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_AMOUNT_NOISE = re.compile(r"[\s¥$€£₩\u00a0'’]|元|RMB|CNY|USD|EUR|HKD|JPY|GBP", re.IGNORECASE)
_PLAIN_DECIMAL = re.compile(r"^[+-]?\d+(\.\d+)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LIST_SPLIT = re.compile(r"[,;，；、|]")
_CURRENCY_ALIASES = {
    "¥": "CNY",
    "￥": "CNY",
    "RMB": "CNY",
    "人民币": "CNY",
    "元": "CNY",
    "$": "USD",
    "美元": "USD",
    "US$": "USD",
    "€": "EUR",
    "欧元": "EUR",
    "HK$": "HKD",
    "港币": "HKD",
    "港元": "HKD",
    "£": "GBP",
    "英镑": "GBP",
    "日元": "JPY",
}
_TRUE = {"1", "true", "yes", "y", "t", "是", "对", "真", "x", "✓"}
_FALSE = {"0", "false", "no", "n", "f", "否", "不", "假", ""}
_LANGUAGES = {
    "zh": "zh_CN",
    "zh_cn": "zh_CN",
    "zh-cn": "zh_CN",
    "zh-hans": "zh_CN",
    "中文": "zh_CN",
    "简体中文": "zh_CN",
    "chinese": "zh_CN",
    "cn": "zh_CN",
    "en": "en_US",
    "en_us": "en_US",
    "en-us": "en_US",
    "english": "en_US",
    "英文": "en_US",
    "英语": "en_US",
    "en_gb": "en_US",
    "en-gb": "en_US",
}
_STATUSES = {
    "open": "open",
    "未收": "open",
    "未付": "open",
    "未结清": "open",
    "部分收款": "open",
    "paid": "paid",
    "已收": "paid",
    "已付": "paid",
    "已结清": "paid",
    "已收款": "paid",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "作废": "cancelled",
    "已作废": "cancelled",
    "disputed": "disputed",
    "争议": "disputed",
    "异议": "disputed",
    "written_off": "written_off",
    "坏账": "written_off",
    "核销": "written_off",
}


def normalise_text(value: Any) -> str:
    """NFKC folds full-width digits and punctuation (１２３，) into their ASCII forms."""
    text = str(value)
    if text.isascii():  # the common case needs no Unicode normalisation
        return text.strip()
    return unicodedata.normalize("NFKC", text).strip()


def parse_str(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel stores codes such as 10023 as 10023.0
    return str(value).strip()


def parse_date(value: Any, formats: tuple[str, ...] = ("YMD",), tz: str = "UTC") -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Epoch seconds or milliseconds (Xbongbong, Fxiaoke): the day in the source's zone.
        moment = parse_datetime(value)
        try:
            return moment.astimezone(_zone(tz)).date()
        except OverflowError as exc:  # 0001-01-01 in a zone west of UTC
            raise ValueError(f"not a date: {value!r} is out of range") from exc
    if value.__class__ is str and len(value) == 10 and value[4] == "-" and "YMD" in formats:
        try:  # the common API case, "2026-03-05", without the regexes below
            return date.fromisoformat(value)
        except ValueError:
            pass
    text = normalise_text(value)
    if _ISO_DATE.match(text) and "YMD" in formats:
        try:
            return date.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"not a calendar date: {text!r}") from exc
    for fmt in formats:
        if fmt == "YMD":
            match = _YMD.match(text)
            if match:
                try:
                    return date(int(match[1]), int(match[2]), int(match[3]))
                except ValueError as exc:
                    raise ValueError(f"not a calendar date: {text!r}") from exc
            continue
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    shown = ", ".join("YYYY-MM-DD / YYYY年M月D日" if f == "YMD" else f for f in formats)
    raise ValueError(f"not a date: {text!r} (expected {shown})")


def parse_datetime(value: Any, tz: str = "UTC") -> datetime:
    """An aware UTC datetime; naive values are read in the source's zone `tz`.

    Accepts datetimes, ISO strings (`2026-01-28T00:00:00`, Odoo's `2026-01-28 08:00:00`,
    with or without offset or `Z`) and Unix timestamps in seconds or milliseconds.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 10**11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:  # inf, nan, beyond year 9999
            raise ValueError(f"not a timestamp: {value!r} is out of range") from exc
    else:
        text = normalise_text(value)
        if text.isdigit() and len(text) in (10, 13):  # epoch seconds / milliseconds as text
            return parse_datetime(int(text), tz)
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"not a date and time: {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone(tz))
    return moment.astimezone(UTC)


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


# What the Money column holds (NUMERIC(20, 4)): 16 digits before the point, 4 after.
AMOUNT_SCALE = 4
AMOUNT_LIMIT = Decimal(10) ** (20 - AMOUNT_SCALE)
_AMOUNT_QUANTUM = Decimal(1).scaleb(-AMOUNT_SCALE)


def parse_amount(value: Any, decimal_separator: str = ".") -> Decimal:
    """An amount the Money column can store: finite, below 10^16 in size, rounded (half away
    from zero, as PostgreSQL does) to 4 places; else ValueError, a row error and never a
    database overflow."""
    amount = _parse_amount(value, decimal_separator)
    if amount.is_finite() and abs(amount) < AMOUNT_LIMIT:
        exponent = amount.as_tuple().exponent  # an int once finite ('n', 'N', 'F' are not)
        if isinstance(exponent, int) and exponent < -AMOUNT_SCALE:
            amount = amount.quantize(_AMOUNT_QUANTUM, rounding=ROUND_HALF_UP)
        if abs(amount) < AMOUNT_LIMIT:  # rounding 9999999999999999.99995 carries over
            return amount
    raise ValueError(f"amount out of range (at most 16 digits before the point): {value!r:.40}")


def _parse_amount(value: Any, decimal_separator: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    raw = normalise_text(value)
    if _PLAIN_DECIMAL.match(raw):
        return Decimal(raw)
    text = _AMOUNT_NOISE.sub("", raw)
    negative = text.startswith("(") and text.endswith(")")
    if negative:
        text = text[1:-1]
    if decimal_separator == ",":
        text = text.replace(".", "").replace(",", ".")
    else:
        text = text.replace(",", "")
    if not _PLAIN_DECIMAL.match(text):
        raise ValueError(f"not an amount: {raw!r}")
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {raw!r}") from exc
    return -amount if negative else amount


@lru_cache(maxsize=65536)
def parse_phone(value: str, region: str = "CN") -> str:
    """E.164 form; customers repeat on many rows, hence the cache."""
    text = normalise_text(value)
    if text.endswith(".0"):
        text = text[:-2]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {text!r}") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid phone number for region {region}: {text!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_email(value: Any) -> str:
    text = normalise_text(value).lower()
    if not _EMAIL.match(text):
        raise ValueError(f"not an email address: {text!r}")
    return text


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = normalise_text(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not yes/no: {text!r}")


def parse_tier(value: Any) -> str:
    text = normalise_text(value).upper()
    if text not in TIERS:
        raise ValueError(f"tier must be A, B or C, got {text!r}")
    return text


def parse_language(value: Any) -> str:
    text = normalise_text(value)
    found = _LANGUAGES.get(text.lower())
    if found is None:
        raise ValueError(f"unknown language {text!r} (zh_CN or en_US)")
    return found


def parse_timezone(value: Any) -> str:
    text = normalise_text(value)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {text!r}") from exc
    return text


def parse_currency(value: Any) -> str:
    text = normalise_text(value)
    code = _CURRENCY_ALIASES.get(text, text).upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValueError(f"not an ISO 4217 currency code: {text!r}")
    return code


def parse_status(value: Any) -> str:
    text = normalise_text(value)
    found = _STATUSES.get(text.lower())
    if found is None:
        raise ValueError(f"unknown status {text!r} (open, paid, cancelled, disputed, written_off)")
    return found


def parse_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in _LIST_SPLIT.split(normalise_text(value)) if part.strip()]


def parse_channels(value: Any) -> list[str]:
    channels = [c.lower() for c in parse_list(value)]
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise ValueError(f"unknown channel(s) {', '.join(unknown)} (known: {', '.join(CHANNELS)})")
    return channels


def parse_url(value: Any) -> str:
    text = normalise_text(value)
    if not text.startswith(("https://", "http://")):
        raise ValueError(f"not an http(s) URL: {text!r}")
    return text
