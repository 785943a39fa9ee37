"""The auth strategies of the REST connector, without HTTP: what `apply` puts into a request,
and when token schemes fetch, reuse, renew and forget their token."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import SourceAuthError, SourceConfigError
from connectors.rest_auth import (
    STRATEGIES,
    AuthContext,
    BearerStrategy,
    OutgoingRequest,
    TokenStrategy,
    strategy_for,
)
from mappings.api import (
    AUTH_MODELS,
    BearerAuth,
    FxiaokeAuth,
    HeaderAuth,
    HmacAuth,
    QueryAuth,
    TokenEndpointAuth,
    XbongbongAuth,
    YonSuiteAuth,
)


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TokenServer:
    """Answers token calls with t1, t2, ...; records each call."""

    def __init__(self, answer=None) -> None:
        self.calls: list[tuple[str, str, dict]] = []
        self.answer = answer or (lambda n: {"access_token": f"t{n}", "expires_in": 7200})

    def __call__(self, method: str, url: str, **kwargs):
        self.calls.append((method, url, kwargs))
        return self.answer(len(self.calls))


def context(credentials=None, settings=None, call=None, clock=None) -> AuthContext:
    return AuthContext(
        credentials=credentials or {"token": "tok", "hmac_secret": "hsec"},
        settings=settings or {"url": "https://crm.example.com"},
        call=call or TokenServer(),
        clock=clock or Clock(),
    )


def request(body: bytes = b"") -> OutgoingRequest:
    return OutgoingRequest("POST", "https://crm.example.com/v1/x", body=body)


def test_every_scheme_of_the_schema_has_a_strategy():
    assert set(STRATEGIES) == set(AUTH_MODELS.values())


@pytest.mark.parametrize(
    ("spec", "headers", "query"),
    [
        (BearerAuth(), {"Authorization": "Bearer tok"}, {}),
        (BearerAuth(header="X-Auth", prefix="Token "), {"X-Auth": "Token tok"}, {}),
        (HeaderAuth(type="header", header="X-Api-Key"), {"X-Api-Key": "tok"}, {}),
        (QueryAuth(type="query", query_param="key"), {}, {"key": "tok"}),
    ],
)
def test_static_tokens_go_where_the_scheme_says(spec, headers, query):
    outgoing = request(b"{}")
    strategy_for(spec, context()).apply(outgoing)
    assert outgoing.headers == headers and outgoing.query == query and outgoing.body == b"{}"


@given(body=st.binary(max_size=200), now=st.integers(min_value=0, max_value=2**32))
def test_hmac_signs_the_timestamp_and_the_exact_body(body, now):
    outgoing = request(body)
    strategy_for(HmacAuth(type="hmac"), context(clock=Clock(now))).apply(outgoing)
    assert outgoing.headers["X-Timestamp"] == str(now)
    expected = hmac.new(b"hsec", str(now).encode() + b"." + body, hashlib.sha256).hexdigest()
    assert outgoing.headers["X-Signature"] == expected


def test_xbongbong_puts_corpid_in_the_body_and_signs_the_bytes():
    strategy = strategy_for(
        XbongbongAuth(type="xbongbong"), context({"token": "tok", "corpid": "ding1"})
    )
    assert strategy.body({"page": 1}) == {"corpid": "ding1", "page": 1}
    outgoing = request(b'{"corpid": "ding1"}')
    strategy.apply(outgoing)
    assert outgoing.headers["sign"] == hashlib.sha256(b'{"corpid": "ding1"}tok').hexdigest()


def test_a_missing_credential_is_a_config_error_naming_it():
    with pytest.raises(SourceConfigError, match="'token'"):
        strategy_for(BearerAuth(), context({"other": "x"})).apply(request())


def test_a_token_is_fetched_once_reused_renewed_early_and_forgotten_on_refusal():
    clock, server = Clock(), TokenServer()
    spec = TokenEndpointAuth(type="token_endpoint", token_url="/oauth/token")
    strategy = strategy_for(
        spec, context({"client_id": "c", "client_secret": "s"}, None, server, clock)
    )

    def header() -> str:
        outgoing = request()
        strategy.apply(outgoing)
        return outgoing.headers["Authorization"]

    assert header() == "Bearer t1"
    assert server.calls == [
        ("POST", "/oauth/token", {"json": {"client_id": "c", "client_secret": "s"}})
    ]
    clock.now += 7200 - 61
    assert header() == "Bearer t1" and len(server.calls) == 1
    clock.now += 2  # within a minute of expiry: renewed before it lapses
    assert header() == "Bearer t2"
    assert strategy.forget() is True  # the source refused it: one retry with a new one
    assert header() == "Bearer t3"


def test_static_schemes_have_nothing_to_forget():
    strategy = strategy_for(BearerAuth(), context())
    assert isinstance(strategy, BearerStrategy) and not isinstance(strategy, TokenStrategy)
    assert strategy.forget() is False


def test_a_token_endpoint_without_a_token_is_an_auth_error():
    spec = TokenEndpointAuth(type="token_endpoint", token_url="/t")
    strategy = strategy_for(spec, context(call=TokenServer(lambda n: {"error": "nope"})))
    with pytest.raises(SourceAuthError, match="no token"):
        strategy.apply(request())


def test_vendor_tokens_renew_refresh_margin_seconds_early():
    clock = Clock()
    server = TokenServer(lambda n: {"data": {"access_token": f"y{n}", "expire": 7200}})
    spec = YonSuiteAuth(
        type="yonsuite", token_url="{token_url}/t", token_in="header", refresh_margin=600
    )
    credentials = {"app_key": "k", "app_secret": "s"}
    strategy = strategy_for(spec, context(credentials, {"token_url": "https://t"}, server, clock))
    outgoing = request()
    strategy.apply(outgoing)
    assert outgoing.headers["access_token"] == "y1" and outgoing.query == {}
    method, url, kwargs = server.calls[0]
    assert (method, url) == ("GET", "{token_url}/t")  # the connector fills and resolves it
    assert set(kwargs["params"]) == {"appKey", "timestamp", "signature"}
    clock.now += 7200 - 601
    strategy.apply(request())
    assert len(server.calls) == 1
    clock.now += 2
    strategy.apply(request())
    assert len(server.calls) == 2


def test_a_suite_app_is_chosen_by_the_source_setting():
    server = TokenServer(lambda n: {"data": {"access_token": "s1"}})
    spec = YonSuiteAuth(type="yonsuite", suite_token_url="/suite")
    credentials = {"suite_key": "sk", "suite_secret": "ss"}
    settings = {"app_type": "suite", "tenant_id": "tenant-9"}
    outgoing = request()
    strategy_for(spec, context(credentials, settings, server)).apply(outgoing)
    assert outgoing.query == {"access_token": "s1"}
    assert server.calls[0][1] == "/suite" and server.calls[0][2]["params"]["tenantId"] == "tenant-9"


def test_fxiaoke_carries_its_session_in_the_body():
    server = TokenServer(
        lambda n: {"errorCode": 0, "corpAccessToken": f"f{n}", "corpId": "corp", "expiresIn": 7200}
    )
    spec = FxiaokeAuth(type="fxiaoke", token_url="/cgi/corpAccessToken/get/V2")
    credentials = {"app_id": "a", "app_secret": "s", "permanent_code": "p", "open_user_id": "u"}
    strategy = strategy_for(spec, context(credentials, None, server))
    assert strategy.body({"data": 1}) == {
        "corpAccessToken": "f1",
        "corpId": "corp",
        "currentOpenUserId": "u",
        "data": 1,
    }
    assert strategy.body(None) is None and len(server.calls) == 1
