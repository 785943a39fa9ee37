"""Provider and recipient rate limits, shared by every worker through Redis.

A provider's request rate is a token bucket; a recipient's cap (WeCom: 30/min and 1,000/h per
member; Aliyun: 50/day per number and template) is a fixed window counter. Both answer "how
many seconds until this send is allowed" so the dispatcher can wait a moment or put the row
back with a later time; nothing here sleeps or touches the ledger.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from redis import Redis

from reminders.sending.channels.base import RecipientLimit

# KEYS[1] bucket; ARGV rate (tokens/s), burst, now (s, float). Returns the wait in ms (0: taken).
_BUCKET = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate * 1000) end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return wait
"""

# KEYS = one counter per window; ARGV = (count, seconds) pairs. Counts only if all windows allow
# it; returns the seconds until the fullest window resets (0: counted).
_WINDOWS = """
for i, key in ipairs(KEYS) do
  local count = tonumber(ARGV[2 * i - 1])
  local used = tonumber(redis.call('GET', key) or '0')
  if used >= count then
    local ttl = redis.call('TTL', key)
    if ttl < 0 then ttl = tonumber(ARGV[2 * i]) end
    return ttl
  end
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, tonumber(ARGV[2 * i])) end
end
return 0
"""


class Limiter(Protocol):
    def provider_wait(self, key: str, rate: float, burst: float) -> float: ...

    def recipient_wait(self, key: str, limits: tuple[RecipientLimit, ...]) -> float: ...


class RedisLimiter:
    def __init__(self, redis: Redis, prefix: str = "dunlin:rl") -> None:
        self.redis = redis
        self.prefix = prefix
        self._bucket = redis.register_script(_BUCKET)
        self._windows = redis.register_script(_WINDOWS)

    def provider_wait(self, key: str, rate: float, burst: float) -> float:
        waited = self._bucket(keys=[f"{self.prefix}:p:{key}"], args=[rate, burst, time.time()])
        return int(waited) / 1000

    def recipient_wait(self, key: str, limits: tuple[RecipientLimit, ...]) -> float:
        if not limits:
            return 0.0
        now = int(time.time())
        keys = [f"{self.prefix}:r:{key}:{lim.seconds}:{now // lim.seconds}" for lim in limits]
        args = [v for lim in limits for v in (lim.count, lim.seconds)]
        return float(self._windows(keys=keys, args=args))


class MemoryLimiter:
    """The same arithmetic in one process, for inline sending without Redis and the web app's
    per-client limit. Memory is bounded: past `max_keys`, idle state is dropped (a bucket idle
    for `idle_seconds` is full again anyway; a window key that has passed counts nothing)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        max_keys: int = 10_000,
        idle_seconds: float = 300.0,
    ) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self.idle_seconds = idle_seconds
        self._buckets: dict[str, tuple[float, float]] = {}
        self._windows: dict[str, tuple[int, int]] = {}  # key → (count, window end)

    def _prune(self, now: float) -> None:
        if len(self._buckets) > self.max_keys:
            cutoff = now - self.idle_seconds
            self._buckets = {k: v for k, v in self._buckets.items() if v[1] >= cutoff}
            if len(self._buckets) > self.max_keys:  # a flood of live keys: forget, fail open
                self._buckets.clear()
        if len(self._windows) > self.max_keys:
            self._windows = {k: v for k, v in self._windows.items() if v[1] > now}

    def provider_wait(self, key: str, rate: float, burst: float) -> float:
        now = self.clock()
        self._prune(now)
        tokens, at = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + max(0.0, now - at) * rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / rate

    def recipient_wait(self, key: str, limits: tuple[RecipientLimit, ...]) -> float:
        now = int(self.clock())
        self._prune(now)
        keys = [(f"{key}:{lim.seconds}:{now // lim.seconds}", lim) for lim in limits]
        for window_key, lim in keys:
            if self._windows.get(window_key, (0, 0))[0] >= lim.count:
                return float(lim.seconds - now % lim.seconds)
        for window_key, lim in keys:
            count, _end = self._windows.get(window_key, (0, 0))
            self._windows[window_key] = (count + 1, (now // lim.seconds + 1) * lim.seconds)
        return 0.0
