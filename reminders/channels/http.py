"""HTTP plumbing every provider channel shares: one pooled session, a timeout on every call,
and transport failures classified by whether the request can have reached the provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError

from reminders.channels.base import Outcome, SendResult
from reminders.channels.tokens import MemoryTokenCache, TokenCache

DEFAULT_TIMEOUT = 10.0


@dataclass
class ChannelContext:
    """What a provider channel needs from its surroundings; built once per batch."""

    outbox_dir: Path
    tokens: TokenCache = field(default_factory=MemoryTokenCache)
    session: requests.Session = field(default_factory=requests.Session)


def never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the provider (no connection was made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError | NameResolutionError | ConnectionRefusedError)


def transport_failure(exc: requests.RequestException, provider: str) -> SendResult:
    if never_sent(exc):
        return SendResult(Outcome.RETRY_LATER, detail=f"{provider}: not reached: {exc}")
    return SendResult(
        Outcome.UNKNOWN, detail=f"{provider}: no answer after the request was sent: {exc}"
    )


def retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After") or response.headers.get("x-acs-retry-after")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def status_failure(response: requests.Response, provider: str) -> SendResult | None:
    """The classes HTTP itself decides: 408/429/5xx retry, 401/403 broken. Else None."""
    status = response.status_code
    detail = f"{provider}: HTTP {status}: {response.text[:300]}"
    if status in (408, 429) or status >= 500:
        return SendResult(Outcome.RETRY_LATER, detail=detail, retry_after=retry_after(response))
    if status in (401, 403):
        return SendResult(Outcome.CHANNEL_BROKEN, detail=detail)
    return None


def json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def require(settings: dict[str, Any], secrets: dict[str, Any], *names: str) -> None:
    """Fail building a channel (not sending) when its configuration lacks a field."""
    from dunlin.errors import ConfigError

    missing = [n for n in names if not (settings.get(n) or secrets.get(n))]
    if missing:
        raise ConfigError(f"missing channel setting(s): {', '.join(missing)}")
