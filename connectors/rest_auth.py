"""How the generic REST connector authorises its requests: one strategy class per scheme.

Each scheme of the mapping's `auth:` section (a model in mappings.api, chosen by `type`) has
a strategy here that puts credentials into an outgoing request (`apply`: headers, query,
signature; `body` for schemes that carry them in the JSON body) and, for token schemes,
fetches and caches a session token (`refresh`). A new vendor is one schema model, one
strategy registered with `@scheme(Model)` and one mapping YAML.

The signing itself is small pure functions (inputs in, signature or headers out); each
reproduces the reference (docs/reference/rest-vendors.md) and its vectors where one exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote, urlsplit

import jmespath

from connectors.base import SourceAuthError, SourceConfigError
from connectors.http import snippet
from connectors.template import fill
from mappings.api import (
    AuthScheme,
    BearerAuth,
    FxiaokeAuth,
    HeaderAuth,
    HmacAuth,
    KingdeeJdyAuth,
    NoAuth,
    QueryAuth,
    TokenEndpointAuth,
    XbongbongAuth,
    YonSuiteAuth,
)


def _b64_hex_hmac(key: str, message: str) -> str:
    digest = hmac.new(key.encode(), message.encode("utf-8"), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode("ascii")).decode("ascii")


# ---- 用友 YonSuite / YonBIP ------------------------------------------------------------------


def yonsuite_token_signature(params: Mapping[str, str], secret: str) -> str:
    """The open platform's token signature: base64 HMAC-SHA256 (key: the app's or suite's
    secret) over every query parameter but `signature`, sorted by name, as name+value."""
    message = "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(secret.encode(), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def yonsuite_token_query(app_key: str, app_secret: str, timestamp_ms: str) -> dict[str, str]:
    """Query of the self-built-app token request: HMAC-SHA256 (key appSecret) over the sorted
    name+value pairs, base64; the HTTP client URL-encodes it exactly once."""
    params = {"appKey": app_key, "timestamp": timestamp_ms}
    return {**params, "signature": yonsuite_token_signature(params, app_secret)}


@dataclass(frozen=True)
class YonSuiteSelfAppSigner:
    """A self-built app (自建应用): one tenant's own app key and secret."""

    app_key: str
    app_secret: str

    def token_query(self, timestamp_ms: str) -> dict[str, str]:
        return yonsuite_token_query(self.app_key, self.app_secret, timestamp_ms)


@dataclass(frozen=True)
class YonSuiteSuiteSigner:
    """An ISV suite app (生态应用): one suite key and secret serve every tenant that bought the
    app, so the token request names the tenant and is signed over suiteKey, tenantId and the
    timestamp (ms) with the suite secret; GET .../open-auth/suiteApp/getAccessToken."""

    suite_key: str
    suite_secret: str
    tenant_id: str

    def token_query(self, timestamp_ms: str) -> dict[str, str]:
        params = {"suiteKey": self.suite_key, "tenantId": self.tenant_id, "timestamp": timestamp_ms}
        return {**params, "signature": yonsuite_token_signature(params, self.suite_secret)}


# ---- 销帮帮 Xbongbong ---------------------------------------------------------------------------


def xbongbong_sign(body: bytes, token: str) -> str:
    """`sign` header: lowercase hex SHA-256 of the exact body bytes followed by the token."""
    return hashlib.sha256(body + token.encode("utf-8")).hexdigest()


# ---- 纷享销客 Fxiaoke -----------------------------------------------------------------------------


def fxiaoke_body(
    body: Mapping[str, Any], corp_access_token: str, corp_id: str, open_user_id: str
) -> dict[str, Any]:
    """Legacy auth: the token, corpId and the acting user travel at the top of every body."""
    return {
        "corpAccessToken": corp_access_token,
        "corpId": corp_id,
        "currentOpenUserId": open_user_id,
        **body,
    }


# ---- 金蝶云星辰 Kingdee JDY ----------------------------------------------------------------------


def _encode(text: str) -> str:
    """Percent-encoding with uppercase hex, only RFC 3986 unreserved characters left as-is."""
    return quote(text, safe="-_.~")


def jdy_canonical_query(query: Mapping[str, Any]) -> str:
    """Keys sorted; each key and value percent-encoded twice; pairs joined with `&`."""
    pairs = sorted((str(k), "" if v is None else str(v)) for k, v in query.items())
    return "&".join(f"{_encode(_encode(k))}={_encode(_encode(v))}" for k, v in pairs)


def jdy_string_to_sign(
    method: str, path: str, query: Mapping[str, Any], nonce: str, ts: str
) -> str:
    return (
        f"{method.upper()}\n{_encode(path)}\n{jdy_canonical_query(query)}\n"
        f"x-api-nonce:{nonce}\nx-api-timestamp:{ts}\n"
    )


def jdy_gateway_headers(
    method: str,
    path: str,
    query: Mapping[str, Any],
    *,
    client_id: str,
    client_secret: str,
    nonce: str,
    timestamp_ms: str,
) -> dict[str, str]:
    """Headers of every api.kingdee.com call (the token calls included); the body is unsigned."""
    signature = _b64_hex_hmac(
        client_secret, jdy_string_to_sign(method, path, query, nonce, timestamp_ms)
    )
    return {
        "X-Api-ClientID": client_id,
        "X-Api-Auth-Version": "2.0",
        "X-Api-TimeStamp": timestamp_ms,
        "X-Api-Nonce": nonce,
        "X-Api-SignHeaders": "X-Api-TimeStamp,X-Api-Nonce",
        "X-Api-Signature": signature,
    }


def jdy_app_signature(app_key: str, app_secret: str) -> str:
    """`app_signature` of the app-token request: Base64 of the hex HMAC-SHA256 of appKey."""
    return _b64_hex_hmac(app_secret, app_key)


# ---- strategies ------------------------------------------------------------------------------


@dataclass
class OutgoingRequest:
    """A request about to be sent: `body` is the exact bytes signatures cover (b"" if none)."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""


# (method, url, **requests kwargs) → the decoded JSON answer; the connector's transport, so a
# token call has the source's timeout and URL resolution (`{setting}` placeholders allowed).
TokenCall = Callable[..., Any]


@dataclass
class AuthContext:
    """What a strategy may use: the source's credentials and public settings, a clock, and
    the connector's transport for token calls."""

    credentials: Mapping[str, Any]
    settings: Mapping[str, Any]
    call: TokenCall
    clock: Callable[[], float]
    url: Callable[[str], str] = str  # a path → the absolute URL the connector would call

    def secret(self, name: str) -> str:
        value = self.credentials.get(name)
        if not value:
            raise SourceConfigError(f"the source's credentials have no {name!r}")
        return str(value)

    def values(self) -> dict[str, Any]:
        """Settings usable as `{name}` placeholders (scalars only)."""
        return {k: v for k, v in self.settings.items() if isinstance(v, str | int | float)}


class AuthStrategy:
    """A scheme without tokens: `apply` adds what every request carries."""

    def __init__(self, spec: Any, context: AuthContext) -> None:
        self.spec = spec
        self.context = context

    def body(self, body: Any) -> Any:
        """The JSON body with any credentials the scheme carries there."""
        return body

    def apply(self, request: OutgoingRequest) -> None:
        """Add headers, query parameters or a signature to the request."""

    def forget(self) -> bool:
        """Drop a cached token after a refusal; True if there was one (then one retry)."""
        return False


class TokenStrategy(AuthStrategy):
    """A scheme with a session token: fetched by `refresh`, cached until `margin` seconds
    before it expires, dropped by `forget` when the source refuses it."""

    margin: float = 60.0

    def __init__(self, spec: Any, context: AuthContext) -> None:
        super().__init__(spec, context)
        self._session: dict[str, str] = {}
        self._expires = 0.0
        if hasattr(spec, "refresh_margin"):
            self.margin = float(spec.refresh_margin)

    def session(self) -> dict[str, str]:
        """The cached session ({"token": ..., and what else the vendor gave}), renewed early."""
        if self._session and self.context.clock() < self._expires - self.margin:
            return self._session
        state, ttl = self.refresh()
        self._session, self._expires = state, self.context.clock() + ttl
        return state

    def refresh(self) -> tuple[dict[str, str], float]:
        """A new session from the vendor and its lifetime in seconds."""
        raise NotImplementedError

    def forget(self) -> bool:
        had = bool(self._session)
        self._session, self._expires = {}, 0.0
        return had


S = TypeVar("S", bound=type[AuthStrategy])
STRATEGIES: dict[type[AuthScheme], type[AuthStrategy]] = {}


def scheme(model: type[AuthScheme]) -> Callable[[S], S]:
    """Register the strategy of a schema model."""

    def register(strategy: S) -> S:
        STRATEGIES[model] = strategy
        return strategy

    return register


def strategy_for(spec: AuthScheme, context: AuthContext) -> AuthStrategy:
    """The strategy registered for the scheme's model, bound to one connector's context."""
    strategy = STRATEGIES.get(type(spec))
    if strategy is None:
        name = getattr(spec, "type", type(spec).__name__)
        raise SourceConfigError(f"no strategy for auth type {name!r}")
    return strategy(spec, context)


@scheme(NoAuth)
class NoStrategy(AuthStrategy):
    """Open APIs (or a proxy in front that authorises)."""


@scheme(BearerAuth)
class BearerStrategy(AuthStrategy):
    spec: BearerAuth

    def apply(self, request: OutgoingRequest) -> None:
        request.headers[self.spec.header] = f"{self.spec.prefix}{self.context.secret('token')}"


@scheme(HeaderAuth)
class HeaderStrategy(AuthStrategy):
    spec: HeaderAuth

    def apply(self, request: OutgoingRequest) -> None:
        request.headers[self.spec.header] = self.context.secret("token")


@scheme(QueryAuth)
class QueryStrategy(AuthStrategy):
    spec: QueryAuth

    def apply(self, request: OutgoingRequest) -> None:
        request.query[self.spec.query_param] = self.context.secret("token")


@scheme(HmacAuth)
class HmacStrategy(AuthStrategy):
    spec: HmacAuth

    def apply(self, request: OutgoingRequest) -> None:
        stamp = str(int(self.context.clock()))
        secret = self.context.secret("hmac_secret").encode()
        request.headers[self.spec.hmac_timestamp_header] = stamp
        request.headers[self.spec.hmac_header] = hmac.new(
            secret, stamp.encode() + b"." + request.body, hashlib.sha256
        ).hexdigest()


@scheme(XbongbongAuth)
class XbongbongStrategy(AuthStrategy):
    def body(self, body: Any) -> Any:
        if not isinstance(body, dict):
            return body
        extra = {"corpid": self.context.secret("corpid")}
        if self.context.credentials.get("user_id"):
            extra["userId"] = self.context.credentials["user_id"]
        return {**extra, **body}

    def apply(self, request: OutgoingRequest) -> None:
        request.headers["sign"] = xbongbong_sign(request.body, self.context.secret("token"))


@scheme(TokenEndpointAuth)
class TokenEndpointStrategy(TokenStrategy):
    spec: TokenEndpointAuth
    margin = 60.0

    def refresh(self) -> tuple[dict[str, str], float]:
        context, auth = self.context, self.spec
        body = fill(auth.token_body, {**context.values(), **context.credentials})
        data = context.call("POST", auth.token_url, json=body)
        token = jmespath.search(auth.token_path, data)
        if not token:
            raise SourceAuthError(f"the token endpoint gave no token: {snippet(str(data))}")
        expires = jmespath.search(auth.expires_path, data) if auth.expires_path else None
        return {"token": str(token)}, float(expires or 3600)

    def apply(self, request: OutgoingRequest) -> None:
        request.headers[self.spec.header] = f"{self.spec.prefix}{self.session()['token']}"


@scheme(YonSuiteAuth)
class YonSuiteStrategy(TokenStrategy):
    spec: YonSuiteAuth

    def signer(self) -> tuple[YonSuiteSelfAppSigner | YonSuiteSuiteSigner, str]:
        """The signer and token URL of the source's app type (its setting, else the mapping's)."""
        context, auth = self.context, self.spec
        kind = context.settings.get("app_type") or auth.app_type
        signer: YonSuiteSelfAppSigner | YonSuiteSuiteSigner
        if kind == "self_built":
            signer = YonSuiteSelfAppSigner(context.secret("app_key"), context.secret("app_secret"))
            return signer, auth.token_url or ""
        if kind != "suite":
            raise SourceConfigError(f"app_type must be self_built or suite, not {kind!r}")
        if not auth.suite_token_url:
            raise SourceConfigError("auth.suite_token_url is required for a YonSuite suite app")
        tenant = context.settings.get("tenant_id") or context.credentials.get("tenant_id")
        if not tenant:
            raise SourceConfigError("a YonSuite suite app needs the buying tenant's tenant_id")
        signer = YonSuiteSuiteSigner(
            context.secret("suite_key"), context.secret("suite_secret"), str(tenant)
        )
        return signer, auth.suite_token_url

    def refresh(self) -> tuple[dict[str, str], float]:
        signer, url = self.signer()
        query = signer.token_query(str(int(self.context.clock() * 1000)))
        data = self.context.call("GET", url, params=query)
        token = jmespath.search("data.access_token", data)
        if not token:
            raise SourceAuthError(f"YonSuite refused the token request: {snippet(str(data))}")
        return {"token": str(token)}, float(jmespath.search("data.expire", data) or 7200)

    def apply(self, request: OutgoingRequest) -> None:
        token = self.session()["token"]
        if self.spec.token_in == "header":
            request.headers["access_token"] = token
        else:
            request.query["access_token"] = token


@scheme(FxiaokeAuth)
class FxiaokeStrategy(TokenStrategy):
    spec: FxiaokeAuth

    def refresh(self) -> tuple[dict[str, str], float]:
        context = self.context
        body = {
            "appId": context.secret("app_id"),
            "appSecret": context.secret("app_secret"),
            "permanentCode": context.secret("permanent_code"),
        }
        data = context.call("POST", self.spec.token_url, json=body)
        if (
            not isinstance(data, dict)
            or data.get("errorCode") not in (0, "0")
            or not data.get("corpAccessToken")
        ):
            message = data.get("errorMessage") if isinstance(data, dict) else data
            raise SourceAuthError(f"Fxiaoke refused the token request: {snippet(str(message))}")
        state = {"token": str(data["corpAccessToken"]), "corp_id": str(data.get("corpId", ""))}
        return state, float(data.get("expiresIn") or 7200)

    def body(self, body: Any) -> Any:
        if not isinstance(body, dict):
            return body
        state = self.session()
        return fxiaoke_body(
            body, state["token"], state["corp_id"], self.context.secret("open_user_id")
        )


@scheme(KingdeeJdyAuth)
class KingdeeJdyStrategy(TokenStrategy):
    spec: KingdeeJdyAuth
    AUTHORIZE: ClassVar[str] = "/jdyconnector/app_management/push_app_authorize"
    TOKEN: ClassVar[str] = "/jdyconnector/app_management/kingdee_auth_token"

    def gateway(self, method: str, url: str, query: Mapping[str, Any]) -> dict[str, str]:
        return jdy_gateway_headers(
            method,
            urlsplit(url).path,
            query,
            client_id=self.context.secret("client_id"),
            client_secret=self.context.secret("client_secret"),
            nonce=str(secrets.randbelow(9 * 10**9) + 10**9),
            timestamp_ms=str(int(self.context.clock() * 1000)),
        )

    def refresh(self) -> tuple[dict[str, str], float]:
        """Two signed calls: the tenant's app key and secret, then the app-token (24 h)."""
        call, url = self.context.call, self.context.url
        query: dict[str, Any] = {"outerInstanceId": self.context.secret("outer_instance_id")}
        authorize = url(self.AUTHORIZE)
        data = call("POST", authorize, params=query, headers=self.gateway("POST", authorize, query))
        apps = (data or {}).get("data") or []
        app = next((a for a in apps if str(a.get("status")) == "1"), None)
        if app is None:
            raise SourceAuthError(f"Kingdee JDY: no valid app authorisation: {snippet(str(data))}")
        query = {
            "app_key": app["appKey"],
            "app_signature": jdy_app_signature(app["appKey"], app["appSecret"]),
        }
        token_url = url(self.TOKEN)
        data = call(
            "GET",
            token_url,
            params=sorted(query.items()),
            headers=self.gateway("GET", token_url, query),
        )
        payload = (data or {}).get("data") or {}
        token = payload.get("app-token") or payload.get("app_token")
        if not token:
            raise SourceAuthError(f"Kingdee JDY refused the app-token: {snippet(str(data))}")
        return {"token": str(token), "domain": str(app.get("domain", ""))}, 20 * 3600.0

    def apply(self, request: OutgoingRequest) -> None:
        state = self.session()
        request.headers.update(self.gateway(request.method, request.url, request.query))
        request.headers["app-token"] = state["token"]
        request.headers["X-GW-Router-Addr"] = state["domain"]
