"""Working days, send windows and frequency caps: pure arithmetic on plain data.

A `WorkCalendar` answers "is this a working day" from the `holidays` package's tables (data, not
I/O), including China's make-up working days (调休), when a weekend day is a working day.
Send windows are written per weekday, but which weekday's windows a date gets is the calendar's
answer, not the date's: a make-up working day takes a working weekday's windows, a public
holiday none, and an ordinary weekend day its own weekday's (usually none).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
SEARCH_DAYS = 31  # how far ahead the next open window is looked for


class WorkCalendar:
    """Working days for a country (None: Monday–Friday, no holidays)."""

    def __init__(self, country: str | None) -> None:
        self.country = country
        self._holidays = holidays.country_holidays(country) if country else None
        self.weekend: frozenset[int] = frozenset(
            self._holidays.weekend if self._holidays is not None else (5, 6)
        )
        self._cache: dict[date, str] = {}

    def day_kind(self, day: date) -> str:
        """'work', 'holiday' (a public holiday, or a weekend day inside a holiday break such as
        the Saturday of China's National Day week), 'makeup' (a weekend day worked, 调休) or
        'weekend' (an ordinary one); cached, as the planner asks for every reminder."""
        kind = self._cache.get(day)
        if kind is None:
            weekend = day.weekday() in self.weekend
            if self._holidays is None:
                kind = "weekend" if weekend else "work"
            elif day in self._holidays:
                kind = "holiday"
            elif weekend:
                if self._holidays.is_working_day(day):
                    kind = "makeup"
                else:
                    kind = "holiday" if self._in_break(day) else "weekend"
            else:
                kind = "work"
            self._cache[day] = kind
        return kind

    def _in_break(self, day: date) -> bool:
        """Whether the run of days off around a weekend day holds a public holiday."""
        table = self._holidays
        assert table is not None
        for step in (-1, 1):
            other = day + timedelta(days=step)
            for _ in range(SEARCH_DAYS):
                if other in table:
                    return True
                if other.weekday() not in self.weekend or table.is_working_day(other):
                    break
                other += timedelta(days=step)
        return False

    def is_working_day(self, day: date) -> bool:
        return self.day_kind(day) in ("work", "makeup")

    def is_holiday(self, day: date) -> bool:
        return self.day_kind(day) == "holiday"

    def is_makeup_day(self, day: date) -> bool:
        """A weekend day that is a working day (China's 调休 Sundays and Saturdays)."""
        return self.day_kind(day) == "makeup"

    def add_working_days(self, start: date, count: int) -> date:
        """`count` working days after `start` (before, if negative); 0 keeps `start`."""
        step = 1 if count >= 0 else -1
        day, left = start, abs(count)
        while left:
            day += timedelta(days=step)
            if self.is_working_day(day):
                left -= 1
        return day


@lru_cache(maxsize=32)
def calendar_for(country: str | None) -> WorkCalendar:
    return WorkCalendar(country)


def parse_ranges(spec: str) -> tuple[tuple[time, time], ...]:
    """'09:00-12:00, 14:00-18:00' → ((09:00, 12:00), (14:00, 18:00)); empty or 'closed' → ()."""
    if spec.strip().lower() in ("", "closed", "none", "-"):
        return ()
    ranges = []
    for part in spec.split(","):
        match = _RANGE.match(part)
        if not match:
            raise ValueError(f"not a time range: {part.strip()!r} (use HH:MM-HH:MM)")
        start = time(int(match[1]), int(match[2]))
        end = (
            time(23, 59)
            if (match[3], match[4]) == ("24", "00")
            else time(int(match[3]), int(match[4]))
        )
        if end <= start:
            raise ValueError(f"range ends before it starts: {part.strip()!r}")
        ranges.append((start, end))
    return tuple(sorted(ranges))


def parse_days(spec: str) -> list[int]:
    """'mon-fri' / 'sat' / 'mon,wed' / 'daily' → weekday numbers (Monday = 0)."""
    spec = spec.strip().lower()
    if spec in ("daily", "all", "*"):
        return list(range(7))
    days: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            first, last = (WEEKDAYS.index(p.strip()) for p in part.split("-", 1))
            days.extend(range(first, last + 1))
        elif part in WEEKDAYS:
            days.append(WEEKDAYS.index(part))
        else:
            raise ValueError(f"unknown day {part!r} (mon … sun, ranges like mon-fri, or daily)")
    return days


@dataclass(frozen=True)
class SendWindows:
    """Per weekday, the local time ranges in which messages may leave."""

    by_weekday: tuple[tuple[tuple[time, time], ...], ...]  # index 0 = Monday

    @classmethod
    def parse(cls, spec: dict[str, str]) -> SendWindows:
        table: list[tuple[tuple[time, time], ...]] = [() for _ in range(7)]
        for days, ranges in spec.items():
            for day in parse_days(days):
                table[day] = parse_ranges(ranges)
        if not any(table):
            raise ValueError("no day has a send window")
        return cls(tuple(table))

    def ranges_on(self, day: date, calendar: WorkCalendar) -> tuple[tuple[time, time], ...]:
        """The windows of one date: none on a public holiday; on a make-up working day those of
        the nearest working weekday that has any (Saturday → Friday, Sunday → Monday), since
        the office works as on a weekday; otherwise the date's own weekday's."""
        kind = calendar.day_kind(day)
        weekday = day.weekday()
        if kind == "holiday":
            return ()
        if kind != "makeup":  # a working weekday, or an ordinary weekend: as the policy says
            return self.by_weekday[weekday]
        for distance in range(1, 7):
            for other in ((weekday - distance) % 7, (weekday + distance) % 7):
                if other not in calendar.weekend and self.by_weekday[other]:
                    return self.by_weekday[other]
        return self.by_weekday[weekday]

    def contains(self, local: datetime, calendar: WorkCalendar | None = None) -> bool:
        """Whether `local` is inside a window (of its weekday, or of its date in `calendar`)."""
        moment = local.time()
        ranges = (
            self.by_weekday[local.weekday()]
            if calendar is None
            else self.ranges_on(local.date(), calendar)
        )
        return any(start <= moment < end for start, end in ranges)


def spread_offset(key: str, minutes: int) -> timedelta:
    """A stable offset in [0, minutes) so thousands of messages do not leave in one second."""
    if minutes <= 0:
        return timedelta(0)
    digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big")
    return timedelta(seconds=digest % (minutes * 60))


def next_send_time(
    day: date,
    not_before: datetime,
    windows: SendWindows,
    calendar: WorkCalendar,
    tz_name: str,
    spread: timedelta = timedelta(0),
) -> datetime:
    """The first moment at or after `not_before`, on or after `day`, inside one of that date's
    windows (`SendWindows.ranges_on`) in `tz_name`, pushed into the window by `spread` where the
    window is long enough."""
    tz = ZoneInfo(tz_name)
    floor = not_before.astimezone(tz)
    for offset in range(SEARCH_DAYS):
        current = day + timedelta(days=offset)
        if current < floor.date():
            continue
        for start, end in windows.ranges_on(current, calendar):
            opens = datetime.combine(current, start, tz)
            closes = datetime.combine(current, end, tz)
            begin = max(opens, floor)
            if begin >= closes:
                continue
            target = begin + spread
            if target >= closes:  # too little window left for the spread: leave at once
                target = begin
            return target.astimezone(UTC)
    raise ValueError(f"no send window within {SEARCH_DAYS} days of {day}")


@dataclass(frozen=True)
class Caps:
    per_day: int | None = None
    per_week: int | None = None


@dataclass
class CapLedger:
    """Reminders per customer per local day, across every source and policy of the org."""

    caps: Caps
    counts: Counter[tuple[int, date]] = field(default_factory=Counter)
    weeks: Counter[tuple[int, date]] = field(default_factory=Counter)  # by the week's Monday

    def count(self, customer_id: int, day: date) -> None:
        """Count one reminder on a customer's local day (one planned now, or already there)."""
        self.counts[(customer_id, day)] += 1
        self.weeks[(customer_id, day - timedelta(days=day.weekday()))] += 1

    def allows(self, customer_id: int, day: date) -> bool:
        if self.caps.per_day is not None and self.counts[(customer_id, day)] >= self.caps.per_day:
            return False
        if self.caps.per_week is not None:
            monday = day - timedelta(days=day.weekday())
            if self.weeks[(customer_id, monday)] >= self.caps.per_week:
                return False
        return True

    def take(self, customer_id: int, day: date) -> bool:
        """Count one reminder if the caps allow it; says whether it was allowed."""
        if not self.allows(customer_id, day):
            return False
        self.count(customer_id, day)
        return True
