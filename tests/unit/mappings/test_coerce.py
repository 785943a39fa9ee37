from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings import coerce


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026年3月5日", date(2026, 3, 5)),
        ("2026-03-05", date(2026, 3, 5)),
        ("2026/3/5", date(2026, 3, 5)),
        ("2026.03.05", date(2026, 3, 5)),
        ("２０２６年３月５日", date(2026, 3, 5)),  # full-width digits
        ("2026-03-05 14:30:00", date(2026, 3, 5)),
        (datetime(2026, 3, 5, 8, 0), date(2026, 3, 5)),
        (date(2026, 3, 5), date(2026, 3, 5)),
    ],
)
def test_parse_date_accepts_usual_forms(raw, expected):
    assert coerce.parse_date(raw) == expected


def test_parse_date_with_explicit_day_first_format():
    assert coerce.parse_date("05/03/2026", ("YMD", "%d/%m/%Y")) == date(2026, 3, 5)


@pytest.mark.parametrize("raw", ["2026-02-30", "next tuesday", "05/03/2026", "2026年13月1日"])
def test_parse_date_rejects_with_the_value_in_the_message(raw):
    with pytest.raises(ValueError, match="date"):
        coerce.parse_date(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("¥1,234.50", Decimal("1234.50")),
        ("￥１，２３４.５０", Decimal("1234.50")),
        ("1234.5元", Decimal("1234.5")),
        ("RMB 10,000", Decimal("10000")),
        ("$500", Decimal("500")),
        ("(1,000.00)", Decimal("-1000.00")),
        ("-12.30", Decimal("-12.30")),
        (1234.56, Decimal("1234.56")),
        (7, Decimal("7")),
    ],
)
def test_parse_amount(raw, expected):
    assert coerce.parse_amount(raw) == expected


def test_parse_amount_decimal_comma():
    assert coerce.parse_amount("1.234,50 €", decimal_separator=",") == Decimal("1234.50")


@pytest.mark.parametrize("raw", ["abc", "1.2.3", "¥", "12,34.5.6"])
def test_parse_amount_rejects(raw):
    with pytest.raises(ValueError, match="amount"):
        coerce.parse_amount(raw)


def test_parse_phone_gives_e164_with_default_region():
    assert coerce.parse_phone("138 1234 5678", "CN") == "+8613812345678"
    assert coerce.parse_phone("+1 650-253-0000", "CN") == "+16502530000"
    assert coerce.parse_phone("13812345678.0", "CN") == "+8613812345678"


def test_parse_phone_rejects_invalid_numbers():
    with pytest.raises(ValueError, match="phone"):
        coerce.parse_phone("12345", "CN")


def test_small_parsers():
    assert coerce.parse_currency("人民币") == "CNY"
    assert coerce.parse_currency("usd") == "USD"
    assert coerce.parse_language("中文") == "zh_CN"
    assert coerce.parse_language("English") == "en_US"
    assert coerce.parse_bool("是") is True and coerce.parse_bool("no") is False
    assert coerce.parse_tier(" a ") == "A"
    assert coerce.parse_list("vip，长期合作;  x") == ["vip", "长期合作", "x"]
    assert coerce.parse_channels("SMS, email") == ["sms", "email"]
    assert coerce.parse_str(10023.0) == "10023"
    with pytest.raises(ValueError):
        coerce.parse_tier("D")
    with pytest.raises(ValueError):
        coerce.parse_channels("fax")
    with pytest.raises(ValueError):
        coerce.parse_timezone("Mars/Olympus")
    with pytest.raises(ValueError):
        coerce.parse_url("javascript:alert(1)")


@given(
    st.decimals(allow_nan=True, allow_infinity=True)
    | st.floats()
    | st.integers()
    | st.text(alphabet="0123456789.,-+eE ¥", max_size=40)
)
def test_parse_amount_returns_only_what_the_money_column_holds(value):
    """NUMERIC(20, 4): finite, under 10^16, at most 4 places; anything else is a ValueError
    (a row or payload error), never a database overflow or a stored NaN."""
    try:
        amount = coerce.parse_amount(value)
    except ValueError:
        return
    assert amount.is_finite()
    assert abs(amount) < Decimal(10) ** 16
    assert amount.as_tuple().exponent >= -4


def test_parse_amount_rounds_like_postgresql():
    assert coerce.parse_amount("1.00005") == Decimal("1.0001")
    assert coerce.parse_amount("-1.00005") == Decimal("-1.0001")
    assert coerce.parse_amount(Decimal("9999999999999999.9999")) == Decimal("9999999999999999.9999")
    for too_big in ("10000000000000000", "9999999999999999.99995", "1e999999999"):
        with pytest.raises(ValueError):
            coerce.parse_amount(too_big)


@pytest.mark.parametrize("value", [10**15, float("inf"), float("nan"), -(10**12), 1e300])
def test_an_out_of_range_timestamp_is_a_value_error(value):
    """Found by the fuzz pass: a number in a date column raised OverflowError/OSError, which
    the importer and the payment webhooks did not expect (a traceback, a 500)."""
    with pytest.raises(ValueError, match="out of range"):
        coerce.parse_datetime(value)
    with pytest.raises(ValueError, match="out of range"):
        coerce.parse_date(value)
