"""HTTP plumbing every provider channel shares: one pooled session, a timeout on every call,
and transport failures classified by whether the request can have reached the provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError

from reminders.sending.channels.base import Outcome, SendResult
from reminders.sending.channels.tokens import MemoryTokenCache, TokenCache

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


class ProviderError(Exception):
    """A classified failure raised inside a channel (e.g. while fetching a token)."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(result.detail)
        self.result = result


def cached_token(ctx: ChannelContext, key: str, fetch: Any) -> str:
    """The cached access token under `key`, or `fetch()` → (token, expires_in) stored."""
    token = ctx.tokens.get(key)
    if token:
        return token
    token, expires_in = fetch()
    ctx.tokens.put(key, token, float(expires_in))
    return token


def call(
    ctx: ChannelContext, method: str, url: str, provider: str, timeout: float, **kwargs: Any
) -> requests.Response:
    """One HTTP call; transport failures become ProviderError with the right class."""
    try:
        return ctx.session.request(method, url, timeout=timeout, **kwargs)
    except requests.RequestException as exc:
        raise ProviderError(transport_failure(exc, provider)) from exc


def template_for(
    settings: dict[str, Any], template: str
) -> tuple[str, dict[str, str] | list[str]] | None:
    """A Dunlin template's approved provider template: (code, parameter spec) or None.

    `templates: {reminder: SMS_1}` uses the channel's `params`; `templates: {reminder:
    {code: SMS_1, params: {...}}}` gives them per template. A params dict maps the provider's
    names to Dunlin variables (Aliyun, WeChat); a list gives them by position (Tencent)."""
    entry = (settings.get("templates") or {}).get(template)
    if entry is None:
        return None
    if isinstance(entry, dict):
        return str(entry["code"]), entry.get("params", settings.get("params") or {})
    return str(entry), settings.get("params") or {}


def fill_params(
    spec: dict[str, str] | list[str], variables: dict[str, str]
) -> dict[str, str] | list[str]:
    """Every value a string (providers reject numbers); unknown variable names are an error."""

    def value(name: str) -> str:
        if name not in variables:
            raise ProviderError(
                SendResult(
                    Outcome.CHANNEL_BROKEN,
                    detail=f"template parameter refers to unknown variable {name!r} "
                    f"(known: {', '.join(sorted(variables))})",
                )
            )
        return variables[name]

    if isinstance(spec, list):
        return [value(n) for n in spec]
    return {k: value(v) for k, v in spec.items()}


def no_template(provider: str, template: str) -> SendResult:
    return SendResult(
        Outcome.CHANNEL_BROKEN,
        detail=f"{provider}: no approved provider template is mapped for {template!r} "
        "(set templates.<name>=<code> on the channel)",
    )


def by_code(code: str, table: dict[Outcome, tuple[str, ...]], default: Outcome) -> Outcome:
    """The class of a provider error code; an entry ending in '*' matches by prefix."""
    for outcome, codes in table.items():
        for known in codes:
            if code == known or (known.endswith("*") and code.startswith(known[:-1])):
                return outcome
    return default


def errcode_token(
    ctx: ChannelContext,
    url: str,
    params: dict[str, str],
    provider: str,
    timeout: float,
    on_error: Any,
) -> tuple[str, float]:
    """The Tencent-style token endpoints (WeCom, DingTalk): GET with the app's credentials,
    `errcode` 0 with `access_token` and `expires_in`; anything else → ProviderError(on_error)."""
    response = call(ctx, "GET", url, provider, timeout, params=params)
    body = json_or_none(response) or {}
    if body.get("errcode") == 0 and body.get("access_token"):
        return body["access_token"], float(body.get("expires_in", 7200))
    raise ProviderError(status_failure(response, provider) or on_error(body))


def rest_error(
    response: requests.Response,
    code: str,
    codes: dict[Outcome, tuple[str, ...]],
    detail: str,
) -> SendResult:
    """REST providers (Twilio, JPush): 429/5xx retry, 401 broken, else the code decides and an
    unknown code is a refusal of this recipient."""
    if response.status_code == 429 or response.status_code >= 500:
        return SendResult(Outcome.RETRY_LATER, detail=detail, retry_after=retry_after(response))
    if response.status_code == 401:
        return SendResult(Outcome.CHANNEL_BROKEN, detail=detail)
    return SendResult(by_code(code, codes, Outcome.PERMANENT_RECIPIENT), detail=detail)


TOKEN_CODES = frozenset({40001, 40014, 42001})  # WeCom/WeChat/DingTalk: token invalid or expired


def post_with_token(
    ctx: ChannelContext,
    token_key: str,
    fetch: Any,
    url: str,
    provider: str,
    timeout: float,
    payload: dict[str, Any],
    token_codes: frozenset[int] = TOKEN_CODES,
) -> dict[str, Any]:
    """POST JSON with `?access_token=`; a token the provider rejects is dropped and fetched
    again once. A second rejection comes back as the body for the caller to classify (broken),
    never a loop. HTTP and transport failures raise ProviderError."""
    body: dict[str, Any] = {}
    for attempt in (1, 2):
        token = cached_token(ctx, token_key, fetch)
        response = call(
            ctx, "POST", url, provider, timeout, params={"access_token": token}, json=payload
        )
        failure = status_failure(response, provider)
        if failure:
            raise ProviderError(failure)
        body = json_or_none(response) or {}
        if body.get("errcode") not in token_codes or attempt == 2:
            break
        ctx.tokens.drop(token_key)
    return body
