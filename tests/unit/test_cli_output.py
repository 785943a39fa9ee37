"""Pure formatting helpers of the CLI: cut lists say so, counts add up, times keep their zone."""

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from cli.output import grouped_counts, joined, local_time, more_line

names = st.lists(st.text("abcxyz-", min_size=1, max_size=6), max_size=30)
zones = st.sampled_from(["Asia/Shanghai", "UTC", "America/New_York", "Asia/Kolkata"])
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)


@given(names, st.integers(min_value=1, max_value=12))
def test_a_cut_list_says_how_many_more(items, limit):
    text = joined(items, limit)
    assert text.startswith(", ".join(items[:limit]))
    if len(items) > limit:
        assert text.endswith(f"… and {len(items) - limit} more")
    else:
        assert text == ", ".join(items)


@given(st.integers(min_value=0, max_value=100), st.integers(min_value=0, max_value=100))
def test_more_line_only_when_something_was_left_out(shown, total):
    line = more_line(shown, total)
    assert (line is None) == (total <= shown)
    if line:
        assert line == f"… and {total - shown} more"


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers(1, 500), max_size=20))
def test_grouped_counts_keep_every_count(counts):
    lines = grouped_counts(counts.items(), limit=8)
    assert len(lines) == min(len(counts), 9)
    assert sum(int(line.split()[0]) for line in lines) == sum(counts.values())


@given(moments, zones)
def test_local_time_is_the_same_minute_in_that_zone(moment, zone):
    local = moment.astimezone(ZoneInfo(zone))
    assert local_time(moment, zone) == f"{local:%Y-%m-%d %H:%M}"
    assert local_time(moment, zone, local.date()) == f"{local:%H:%M}"
    same_year = local_time(moment, zone, local.date().replace(day=1, month=1 + local.month % 12))
    assert re.fullmatch(r"(\d{4}-)?\d\d-\d\d \d\d:\d\d", same_year)
