from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reminders.core.schedule import (
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
    assert not CN.is_holiday(local.date())
    assert WINDOWS.contains(local, CN)


SHANGHAI = ZoneInfo("Asia/Shanghai")
CN_TABLE = holidays.country_holidays("CN", years=range(2020, 2028))
MAKEUP_DAYS = sorted(d for d in CN_TABLE.weekend_workdays if 2020 <= d.year <= 2027)
WEEKDAY_WINDOWS = {"mon-fri": "09:00-18:00"}


def test_a_makeup_sunday_gets_the_working_day_window():
    """调休: Sunday 2026-09-20 is a working day in China; a reminder due that day goes out that
    morning, not on Monday 09-21."""
    sunday = date(2026, 9, 20)
    assert sunday.weekday() == 6 and CN_TABLE.is_working_day(sunday)
    windows = SendWindows.parse(WEEKDAY_WINDOWS)
    early = datetime.combine(sunday, time(6), SHANGHAI)
    sent = next_send_time(sunday, early, windows, CN, "Asia/Shanghai")
    assert sent.astimezone(SHANGHAI) == datetime.combine(sunday, time(9), SHANGHAI)


def test_the_calendar_knows_makeup_days_for_several_years():
    assert len(MAKEUP_DAYS) >= 20 and {d.year for d in MAKEUP_DAYS} >= set(range(2020, 2027))
    assert all(CN.is_makeup_day(d) and CN.is_working_day(d) for d in MAKEUP_DAYS)


def _in_holiday_break(day: date) -> bool:
    """A day off whose run of consecutive days off holds a public holiday (e.g. 2025-10-04)."""
    if CN_TABLE.is_working_day(day):
        return False
    run = [day]
    for step in (-1, 1):
        other = day + timedelta(days=step)
        while not CN_TABLE.is_working_day(other):
            run.append(other)
            other += timedelta(days=step)
    return any(d in CN_TABLE for d in run)


def test_weekends_inside_a_holiday_break_are_holidays():
    windows = SendWindows.parse({"mon-fri": "09:00-18:00", "sat-sun": "10:00-12:00"})
    assert windows.ranges_on(date(2025, 10, 4), CN) == ()  # Saturday of National Day week
    assert windows.ranges_on(date(2025, 10, 18), CN) == ((time(10), time(12)),)  # ordinary


window_specs = st.fixed_dictionaries(
    {"mon-fri": st.sampled_from(["09:00-18:00", "09:00-12:00, 14:00-18:00", "08:30-09:30"])},
    optional={
        "sat": st.sampled_from(["10:00-12:00", "closed"]),
        "sun": st.sampled_from(["13:00-15:00", "closed"]),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    spec=window_specs,
    day=st.dates(date(2020, 1, 1), date(2027, 12, 31)) | st.sampled_from(MAKEUP_DAYS),
)
def test_windows_follow_the_cn_calendar(spec, day):
    """Make-up working days get the working-day windows, public holidays none, ordinary weekend
    days what the policy gives their weekday, working weekdays their own."""
    windows = SendWindows.parse(spec)
    ranges = windows.ranges_on(day, CN)
    if day in CN_TABLE or _in_holiday_break(day):
        assert ranges == ()
    elif day in CN_TABLE.weekend_workdays:
        assert ranges == windows.by_weekday[0] != ()
    else:
        assert ranges == windows.by_weekday[day.weekday()]
    # next_send_time agrees: from the start of the day, it sends that day exactly when the day
    # has a window, at its first opening.
    start = datetime.combine(day, time(0), SHANGHAI)
    sent = next_send_time(day, start, windows, CN, "Asia/Shanghai").astimezone(SHANGHAI)
    if ranges:
        assert sent == datetime.combine(day, ranges[0][0], SHANGHAI)
    else:
        assert sent.date() > day


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


def test_a_makeup_day_works_as_the_nearest_weekday():
    """Saturday make-up days take Friday's windows, Sunday ones Monday's, whatever the policy
    says of Saturdays and Sundays; a calendar without holidays has no make-up days."""
    windows = SendWindows.parse(
        {"mon": "08:00-10:00", "tue-thu": "09:00-18:00", "fri": "13:00-15:00", "sat-sun": "closed"}
    )
    assert windows.ranges_on(date(2026, 10, 10), CN) == ((time(13), time(15)),)  # Saturday
    assert windows.ranges_on(date(2026, 9, 20), CN) == ((time(8), time(10)),)  # Sunday
    assert windows.ranges_on(date(2026, 9, 20), calendar_for(None)) == ()
