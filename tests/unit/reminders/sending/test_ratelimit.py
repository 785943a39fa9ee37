"""Token bucket and recipient windows: in memory, and the same arithmetic in Redis (Lua)."""

from __future__ import annotations

import os

import pytest
from redis import Redis

from reminders.sending.channels.base import RecipientLimit
from reminders.sending.ratelimit import MemoryLimiter, RedisLimiter
from tests.conftest import service_missing


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_memory_bucket_allows_a_burst_then_paces():
    clock = Clock()
    limiter = MemoryLimiter(clock)
    assert [limiter.provider_wait("p", rate=2, burst=2) for _ in range(2)] == [0, 0]
    assert limiter.provider_wait("p", rate=2, burst=2) == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.provider_wait("p", rate=2, burst=2) == 0


def test_memory_recipient_window_caps_and_resets():
    clock = Clock()
    limiter = MemoryLimiter(clock)
    limits = (RecipientLimit(2, 60),)
    assert [limiter.recipient_wait("r", limits) for _ in range(2)] == [0, 0]
    assert 0 < limiter.recipient_wait("r", limits) <= 60
    assert limiter.recipient_wait("other", limits) == 0  # per recipient
    clock.now += 60
    assert limiter.recipient_wait("r", limits) == 0


def test_memory_limiter_stays_bounded_and_keeps_live_limits():
    """The web app keys buckets by client address: a scan from many addresses must not grow
    memory without bound, and a client still being limited keeps its state."""
    clock = Clock()
    limiter = MemoryLimiter(clock, max_keys=100, idle_seconds=60)
    for _ in range(3):
        limiter.provider_wait("busy", rate=1, burst=3)
    assert limiter.provider_wait("busy", rate=1, burst=3) > 0  # limited
    for n in range(150):  # old visitors, gone idle
        limiter.provider_wait(f"10.0.0.{n}", rate=1, burst=3)
    clock.now += 61
    limiter.provider_wait("busy", rate=1, burst=3)
    for n in range(60):  # new ones push it past the bound: the idle ones are dropped
        limiter.provider_wait(f"10.1.0.{n}", rate=1, burst=3)
    assert len(limiter._buckets) == 61
    # "busy" was active a moment ago: its bucket (2 tokens left) survived the pruning
    waits = [limiter.provider_wait("busy", rate=1, burst=3) for _ in range(3)]
    assert waits[:2] == [0, 0] and waits[2] > 0
    limits = (RecipientLimit(1, 60),)
    for n in range(300):
        limiter.recipient_wait(f"r{n}", limits)
        clock.now += 1
    assert len(limiter._windows) <= 160  # passed windows are dropped


@pytest.fixture
def redis():
    conn = Redis.from_url(os.environ.get("DUNLIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    try:
        conn.ping()
    except Exception as exc:  # noqa: BLE001
        service_missing("Redis", exc)
    conn.flushdb()
    yield conn
    conn.flushdb()


def test_redis_limits_are_shared_between_limiters(redis):
    first, second = RedisLimiter(redis), RedisLimiter(redis)
    limits = (RecipientLimit(3, 60), RecipientLimit(100, 3600))
    waits = [lim.recipient_wait("acme:wecom:u1", limits) for lim in (first, second, first, second)]
    assert waits[:3] == [0, 0, 0] and 0 < waits[3] <= 60
    assert first.provider_wait("p", rate=1, burst=1) == 0
    assert 0 < second.provider_wait("p", rate=1, burst=1) <= 1.0
