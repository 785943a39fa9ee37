from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reminders.schedule import (
    CapLedger,
    Caps,
    SendWindows,
    calendar_for,
    next_send_time,
    parse_days,
    spread_offset,
)

CN = calendar_for("CN")
WINDOWS = SendWindows.parse({"mon-fri": "09:00-12:00, 14:00-18:00", "sat": "10:00-11:00"})


def test_parsing_days_and_ranges():
    assert parse_days("mon-fri") == [0, 1, 2, 3, 4]
    assert parse_days("sat,sun") == [5, 6]
    assert WINDOWS.by_weekday[0] == ((time(9), time(12)), (time(14), time(18)))
    assert WINDOWS.by_weekday[6] == ()
    with pytest.raises(ValueError, match="time range"):
        SendWindows.parse({"mon": "9-5"})
    with pytest.raises(ValueError, match="unknown day"):
        SendWindows.parse({"funday": "09:00-10:00"})


def test_evening_rolls_to_the_next_working_day_past_holidays():
    evening = datetime(2025, 9, 30, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai, then National Day
    sent = next_send_time(date(2025, 9, 30), evening, WINDOWS, CN, "Asia/Shanghai")
    assert sent.astimezone(ZoneInfo("Asia/Shanghai")) == datetime(
        2025, 10, 9, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")
    )


def test_lunch_gap_and_customer_time_zone():
    noon_shanghai = datetime(2026, 12, 1, 4, 30, tzinfo=UTC)  # 12:30 local: between windows
    assert next_send_time(
        date(2026, 12, 1), noon_shanghai, WINDOWS, CN, "Asia/Shanghai"
    ).astimezone(ZoneInfo("Asia/Shanghai")).time() == time(14, 0)
    london = next_send_time(date(2026, 12, 1), noon_shanghai, WINDOWS, CN, "Europe/London")
    assert london.astimezone(ZoneInfo("Europe/London")) == datetime(
        2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Europe/London")
    )


def test_spread_is_stable_and_bounded():
    assert spread_offset("a", 30) == spread_offset("a", 30)
    offsets = {spread_offset(str(i), 30) for i in range(200)}
    assert len(offsets) > 100 and all(timedelta(0) <= o < timedelta(minutes=30) for o in offsets)


@settings(max_examples=300, deadline=None)
@given(
    day=st.dates(date(2025, 1, 1), date(2026, 12, 31)),
    minutes=st.integers(0, 24 * 60 * 3),
    tz=st.sampled_from(["Asia/Shanghai", "Europe/London", "America/New_York", "Asia/Kolkata"]),
    key=st.text(min_size=1, max_size=8),
)
def test_every_send_time_is_inside_a_window_on_a_working_day(day, minutes, tz, key):
    not_before = datetime.combine(day, time(0), UTC) + timedelta(minutes=minutes)
    sent = next_send_time(day, not_before, WINDOWS, CN, tz, spread_offset(key, 30))
    local = sent.astimezone(ZoneInfo(tz))
    assert sent >= not_before and local.date() >= day
    assert CN.is_working_day(local.date())
    assert WINDOWS.contains(local)


@settings(max_examples=300, deadline=None)
@given(
    caps=st.builds(
        Caps, per_day=st.none() | st.integers(1, 3), per_week=st.none() | st.integers(1, 6)
    ),
    requests=st.lists(
        st.tuples(st.integers(1, 3), st.dates(date(2026, 11, 30), date(2026, 12, 20))), max_size=60
    ),
)
def test_caps_are_never_exceeded(caps, requests):
    ledger = CapLedger(caps)
    accepted = [r for r in requests if ledger.take(*r)]
    for customer, day in accepted:
        same_day = sum(1 for c, d in accepted if c == customer and d == day)
        same_week = sum(
            1 for c, d in accepted if c == customer and d.isocalendar()[:2] == day.isocalendar()[:2]
        )
        assert caps.per_day is None or same_day <= caps.per_day
        assert caps.per_week is None or same_week <= caps.per_week
