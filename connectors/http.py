"""HTTP plumbing shared by API connectors: one pooled session per source, explicit timeouts,
a per-source rate limit, and transport failures mapped onto the connector error classes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from connectors.base import SourceAuthError, SourceUnavailable

USER_AGENT = "dunlin/0.1 (+https://github.com/dunlin-ar/dunlin)"


class RateLimiter:
    """At most `per_second` calls per second for one source (0 = unlimited), spaced evenly."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            time.sleep(delay)


def make_session(pool_size: int = 4) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    limiter: RateLimiter | None = None,
    check: bool = True,
    **kwargs: Any,
) -> requests.Response:
    """One HTTP exchange; network trouble becomes SourceUnavailable and, unless the caller
    classifies statuses itself (`check=False`), so do 5xx/429, and 401 an auth error."""
    if limiter is not None:
        limiter.wait()
    try:
        response = session.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout as exc:
        raise SourceUnavailable(f"timed out after {timeout:g}s: {redact_url(url)}") from exc
    except requests.RequestException as exc:
        raise SourceUnavailable(f"cannot reach {redact_url(url)}: {type(exc).__name__}") from exc
    if not check:
        return response
    if response.status_code == 401:
        raise SourceAuthError(
            f"{redact_url(url)} refused the credentials (HTTP 401): {snippet(response.text)}"
        )
    if response.status_code == 429 or response.status_code >= 500:
        raise SourceUnavailable(
            f"{redact_url(url)} answered HTTP {response.status_code}: {snippet(response.text)}"
        )
    return response


def json_body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise SourceUnavailable(
            f"malformed JSON from {redact_url(response.url)} "
            f"(HTTP {response.status_code}): {snippet(response.text)}"
        ) from exc


def snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def redact_url(url: str) -> str:
    """Query strings may carry tokens; errors and logs show the URL without them."""
    return url.split("?", 1)[0]
