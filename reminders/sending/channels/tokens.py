"""Access tokens (WeCom, WeChat, DingTalk, FCM) cached for every worker at once.

WeChat's classic token endpoint invalidates the previous token on each refresh, so one shared
holder matters: workers read the token from Redis and only the one that finds it missing or
rejected fetches a new one. Tokens are kept a little shorter than the provider says.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Protocol

from redis import Redis

SAFETY_SECONDS = 300


class TokenCache(Protocol):
    def get(self, key: str) -> str | None: ...

    def put(self, key: str, token: str, expires_in: float) -> None: ...

    def drop(self, key: str) -> None: ...


def cache_key(*parts: str) -> str:
    """Keys name the credentials without containing them."""
    return "dunlin:token:" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


class RedisTokenCache:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def get(self, key: str) -> str | None:
        value = self.redis.get(key)
        return value.decode() if isinstance(value, bytes) else value

    def put(self, key: str, token: str, expires_in: float) -> None:
        self.redis.set(key, token, ex=max(1, int(expires_in) - SAFETY_SECONDS))

    def drop(self, key: str) -> None:
        self.redis.delete(key)


class MemoryTokenCache:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}

    def get(self, key: str) -> str | None:
        token, until = self._tokens.get(key, ("", 0.0))
        return token if token and until > self.clock() else None

    def put(self, key: str, token: str, expires_in: float) -> None:
        self._tokens[key] = (token, self.clock() + max(1.0, expires_in - SAFETY_SECONDS))

    def drop(self, key: str) -> None:
        self._tokens.pop(key, None)
