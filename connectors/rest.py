"""A generic REST/JSON source driven entirely by its mapping: auth, paging (in the query string
or the JSON body), record extraction by JMESPath, per-source rate limit. Proven by the
Jiandaoyun mapping (POST data/list, `data_id` cursor, limit 100).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import urlsplit

import jmespath

from connectors.base import (
    ConnectionInfo,
    NotSupported,
    Page,
    RecordRejected,
    SourceAuthError,
    SourceConfigError,
    SourceUnavailable,
    TaskRequest,
    entity_spec,
)
from connectors.http import RateLimiter, json_body, make_session, send, snippet
from connectors.rest_auth import (
    YonSuiteSelfAppSigner,
    YonSuiteSuiteSigner,
    fxiaoke_body,
    jdy_app_signature,
    jdy_gateway_headers,
    xbongbong_sign,
)
from mappings.api import RestEntity, RestMapping, RestWrite
from mappings.coerce import parse_datetime
from mappings.fastpath import truthy as _truthy
from mappings.paths import mapped_paths, root_fields

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill(template: Any, values: dict[str, Any]) -> Any:
    """Replace `{name}` in every string of a JSON template; a string that is only a placeholder
    takes the value itself (so `"{since}"` can become null or a number)."""
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole and whole[1] in values:
            return values[whole[1]]
        return _PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], template)
    return template


class RestConnector:
    def __init__(
        self,
        mapping: RestMapping,
        settings: dict[str, Any],
        credentials: dict[str, Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.mapping = mapping
        self.source = mapping.source
        self.settings = settings
        self.credentials = credentials
        self.base_url = str(settings["url"]).rstrip("/")
        self.page_size = int(settings.get("page_size") or self.source.page_size)
        self.timeout = float(settings.get("timeout_seconds") or self.source.timeout_seconds)
        self.limiter = RateLimiter(float(settings.get("rate_limit", self.source.rate_limit)))
        self.session = make_session()
        self.clock = clock
        self._token: str | None = None
        self._state: dict[str, str] = {}
        self._token_expires = 0.0

    # ---- transport ---------------------------------------------------------------------------

    def _values(self, **extra: Any) -> dict[str, Any]:
        public = {k: v for k, v in self.settings.items() if isinstance(v, str | int | float)}
        return {**public, **extra}

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"

    def _auth(
        self, method: str, url: str, headers: dict[str, str], query: dict[str, Any], body: bytes
    ) -> None:
        auth = self.source.auth
        if auth.type in ("bearer", "header", "token_endpoint"):
            token = self._access_token() if auth.type == "token_endpoint" else self._secret("token")
            prefix = auth.prefix if auth.type != "header" else ""
            headers[auth.header] = f"{prefix}{token}"
        elif auth.type == "query":
            query[auth.query_param] = self._secret("token")
        elif auth.type == "xbongbong":
            headers["sign"] = xbongbong_sign(body, self._secret("token"))
        elif auth.type == "yonsuite":
            token = self._vendor_token()["token"]
            if auth.token_in == "header":
                headers["access_token"] = token
            else:
                query["access_token"] = token
        elif auth.type == "kingdee_jdy":
            state = self._vendor_token()
            headers.update(self._jdy_headers(method, url, query))
            headers["app-token"] = state["token"]
            headers["X-GW-Router-Addr"] = state["domain"]
        elif auth.type == "hmac":
            stamp = str(int(self.clock()))
            secret = self._secret("hmac_secret").encode()
            headers[auth.hmac_timestamp_header] = stamp
            headers[auth.hmac_header] = hmac.new(
                secret, stamp.encode() + b"." + body, hashlib.sha256
            ).hexdigest()

    def _secret(self, name: str) -> str:
        value = self.credentials.get(name)
        if not value:
            raise SourceConfigError(f"the source's credentials have no {name!r}")
        return str(value)

    def _access_token(self) -> str:
        if self._token and self.clock() < self._token_expires - 60:
            return self._token
        auth = self.source.auth
        if not auth.token_url:
            raise SourceConfigError("auth.token_url is required for token_endpoint auth")
        body = fill(auth.token_body, {**self._values(), **self.credentials})
        response = send(
            self.session, "POST", self._url(auth.token_url), timeout=self.timeout, json=body
        )
        data = json_body(response)
        token = jmespath.search(auth.token_path, data)
        if not token:
            raise SourceAuthError(f"the token endpoint gave no token: {snippet(str(data))}")
        expires = jmespath.search(auth.expires_path, data) if auth.expires_path else None
        self._token = str(token)
        self._token_expires = self.clock() + float(expires or 3600)
        return self._token

    def _vendor_token(self) -> dict[str, str]:
        """The cached session of token-based vendor schemes (YonSuite, Fxiaoke, Kingdee JDY),
        renewed `refresh_margin` seconds before it expires."""
        if self._state and self.clock() < self._token_expires - self.source.auth.refresh_margin:
            return self._state
        kind = self.source.auth.type
        if kind == "yonsuite":
            state, ttl = self._yonsuite_token()
        elif kind == "fxiaoke":
            state, ttl = self._fxiaoke_token()
        else:
            state, ttl = self._jdy_token()
        self._state, self._token = state, state["token"]
        self._token_expires = self.clock() + ttl
        return state

    def _token_call(self, method: str, url: str, **kwargs: Any) -> Any:
        """A call to a token endpoint (`{setting}` placeholders allowed: YonSuite's token host
        differs from its gateway)."""
        url = self._url(fill(url, self._values()))
        response = send(self.session, method, url, timeout=self.timeout, **kwargs)
        return json_body(response)

    def _yonsuite_signer(self) -> tuple[YonSuiteSelfAppSigner | YonSuiteSuiteSigner, str]:
        """The signer and token URL of the source's app type (its setting, else the mapping's)."""
        auth = self.source.auth
        kind = self.settings.get("app_type") or auth.app_type
        if kind == "self_built":
            signer: YonSuiteSelfAppSigner | YonSuiteSuiteSigner = YonSuiteSelfAppSigner(
                self._secret("app_key"), self._secret("app_secret")
            )
            return signer, auth.token_url or ""
        if kind != "suite":
            raise SourceConfigError(f"app_type must be self_built or suite, not {kind!r}")
        if not auth.suite_token_url:
            raise SourceConfigError("auth.suite_token_url is required for a YonSuite suite app")
        tenant = self.settings.get("tenant_id") or self.credentials.get("tenant_id")
        if not tenant:
            raise SourceConfigError("a YonSuite suite app needs the buying tenant's tenant_id")
        signer = YonSuiteSuiteSigner(
            self._secret("suite_key"), self._secret("suite_secret"), str(tenant)
        )
        return signer, auth.suite_token_url

    def _yonsuite_token(self) -> tuple[dict[str, str], float]:
        signer, url = self._yonsuite_signer()
        query = signer.token_query(str(int(self.clock() * 1000)))
        data = self._token_call("GET", url, params=query)
        token = jmespath.search("data.access_token", data)
        if not token:
            raise SourceAuthError(f"YonSuite refused the token request: {snippet(str(data))}")
        return {"token": str(token)}, float(jmespath.search("data.expire", data) or 7200)

    def _fxiaoke_token(self) -> tuple[dict[str, str], float]:
        body = {
            "appId": self._secret("app_id"),
            "appSecret": self._secret("app_secret"),
            "permanentCode": self._secret("permanent_code"),
        }
        data = self._token_call("POST", self.source.auth.token_url or "", json=body)
        if (
            not isinstance(data, dict)
            or data.get("errorCode") not in (0, "0")
            or not data.get("corpAccessToken")
        ):
            message = data.get("errorMessage") if isinstance(data, dict) else data
            raise SourceAuthError(f"Fxiaoke refused the token request: {snippet(str(message))}")
        state = {"token": str(data["corpAccessToken"]), "corp_id": str(data.get("corpId", ""))}
        return state, float(data.get("expiresIn") or 7200)

    def _jdy_headers(self, method: str, url: str, query: dict[str, Any]) -> dict[str, str]:
        return jdy_gateway_headers(
            method,
            urlsplit(url).path,
            query,
            client_id=self._secret("client_id"),
            client_secret=self._secret("client_secret"),
            nonce=str(secrets.randbelow(9 * 10**9) + 10**9),
            timestamp_ms=str(int(self.clock() * 1000)),
        )

    def _jdy_token(self) -> tuple[dict[str, str], float]:
        """Two signed calls: the tenant's app key and secret, then the app-token (24 h)."""
        authorize = "/jdyconnector/app_management/push_app_authorize"
        query = {"outerInstanceId": self._secret("outer_instance_id")}
        url = self._url(authorize)
        data = self._token_call(
            "POST", url, params=query, headers=self._jdy_headers("POST", url, query)
        )
        apps = (data or {}).get("data") or []
        app = next((a for a in apps if str(a.get("status")) == "1"), None)
        if app is None:
            raise SourceAuthError(f"Kingdee JDY: no valid app authorisation: {snippet(str(data))}")
        token_path = "/jdyconnector/app_management/kingdee_auth_token"
        query = {
            "app_key": app["appKey"],
            "app_signature": jdy_app_signature(app["appKey"], app["appSecret"]),
        }
        url = self._url(token_path)
        data = self._token_call(
            "GET", url, params=sorted(query.items()), headers=self._jdy_headers("GET", url, query)
        )
        payload = (data or {}).get("data") or {}
        token = payload.get("app-token") or payload.get("app_token")
        if not token:
            raise SourceAuthError(f"Kingdee JDY refused the app-token: {snippet(str(data))}")
        return {"token": str(token), "domain": str(app.get("domain", ""))}, 20 * 3600.0

    def _inject(self, body: Any) -> Any:
        """Credentials some APIs carry in the JSON body (Xbongbong's corpid, Fxiaoke's token)."""
        kind = self.source.auth.type
        if kind == "xbongbong" and isinstance(body, dict):
            extra = {"corpid": self._secret("corpid")}
            if self.credentials.get("user_id"):
                extra["userId"] = self.credentials["user_id"]
            return {**extra, **body}
        if kind == "fxiaoke" and isinstance(body, dict):
            state = self._vendor_token()
            return fxiaoke_body(
                body, state["token"], state["corp_id"], self._secret("open_user_id")
            )
        return body

    def request(
        self, method: str, path: str, *, body: Any = None, query: dict[str, Any] | None = None
    ) -> Any:
        url = self._url(path)
        for attempt in (1, 2):
            sent_query = dict(query or {})
            sent_body = self._inject(body)
            # Serialised once: signatures cover these exact bytes.
            raw = (
                json.dumps(sent_body, ensure_ascii=False).encode() if sent_body is not None else b""
            )
            headers = {"Content-Type": "application/json"} if sent_body is not None else {}
            self._auth(method, url, headers, sent_query, raw)
            response = send(
                self.session,
                method,
                url,
                timeout=self.timeout,
                limiter=self.limiter,
                check=False,
                params=sorted(sent_query.items()) or None,
                data=raw or None,
                headers=headers,
            )
            try:
                return self._answer(path, response)
            except SourceAuthError:
                if attempt == 2 or not self._token:
                    raise
                self._token, self._state = None, {}  # expired: a new token, then one retry
        raise AssertionError("unreachable")

    def _answer(self, path: str, response: Any) -> Any:
        status = response.status_code
        if status == 401 or status == 403:
            raise SourceAuthError(f"{path}: HTTP {status}: {snippet(response.text)}")
        if status == 429 or status >= 500:
            raise SourceUnavailable(f"{path}: HTTP {status}: {snippet(response.text)}")
        if status == 404:
            raise SourceConfigError(f"{path}: HTTP 404 (wrong path or form id?)")
        if status >= 400:
            raise RecordRejected(f"{path}: HTTP {status}: {snippet(response.text)}")
        return self._check_envelope(path, json_body(response))

    def _check_envelope(self, path: str, data: Any) -> Any:
        source = self.source
        if source.ok is None or _truthy(jmespath.search(source.ok, data)):
            return data
        message = snippet(str(jmespath.search(source.message, data) or data))
        if source.auth_failed and _truthy(jmespath.search(source.auth_failed, data)):
            raise SourceAuthError(f"{path}: {message}")
        raise SourceUnavailable(f"{path}: {message}")

    # ---- reading -----------------------------------------------------------------------------

    def _entity(self, entity: str) -> RestEntity:
        spec: RestEntity = entity_spec(self.source, entity)
        return spec

    def begin(self, entity: str, stored: dict[str, Any], *, full: bool) -> dict[str, Any]:
        if stored.get("running") and not full:
            return dict(stored)
        spec = self._entity(entity)
        since: Any = None
        if stored.get("modified") and spec.since_body is not None and not full:
            last = stored["modified"]
            last = int(last) if isinstance(last, str) and last.isdigit() else last
            moment = parse_datetime(last) - timedelta(minutes=self.source.overlap_minutes)
            if spec.since_format == "epoch":
                since = int(moment.timestamp())
            elif spec.since_format == "epoch_ms":
                since = int(moment.timestamp() * 1000)
            else:
                since = moment.astimezone(UTC).strftime(spec.since_format)
        start = spec.paging.start if spec.paging.type == "page" else 0
        return {
            "running": True,
            "since": since,
            "position": None if spec.paging.type == "cursor" else start,
            "modified": None if full else stored.get("modified"),
        }

    def read_page(self, entity: str, cursor: dict[str, Any], *, full: bool = False) -> Page:
        spec = self._entity(entity)
        paging = spec.paging
        values = self._values(since=cursor.get("since"))
        body = fill(copy.deepcopy(spec.body), values) if spec.method == "POST" else None
        query = fill(copy.deepcopy(spec.query), values)
        target = body if paging.where == "body" and body is not None else query
        if cursor.get("since") and spec.since_body:
            _merge(target, fill(copy.deepcopy(spec.since_body), values))
        size = min(self.page_size, paging.max_size or self.page_size)
        if paging.type != "none":
            _put(target, paging.size_param, size)
            if cursor.get("position") is not None:
                _put(target, paging.param, cursor["position"])
        data = self.request(spec.method, fill(spec.path, values), body=body, query=query)
        records = jmespath.search(spec.records, data)
        if not isinstance(records, list):
            raise SourceUnavailable(f"{spec.path}: no record list at {spec.records!r}")
        newest = cursor.get("modified") or ""
        if spec.modified_field:
            stamps = [str(r.get(spec.modified_field) or "") for r in records]
            newest = max([newest, *stamps])
        done = paging.type == "none" or len(records) < size
        if paging.total_pages and paging.type == "page":
            pages = jmespath.search(paging.total_pages, data)
            if pages is not None:
                done = int(cursor["position"]) >= int(pages) or not records
        if done:
            return Page(records, {"running": False, "modified": newest or None}, True)
        if paging.type == "page":
            position: Any = int(cursor["position"]) + 1
        elif paging.type == "offset":
            position = int(cursor["position"]) + len(records)
        elif paging.next.startswith("last_record:"):
            position = jmespath.search(paging.next.removeprefix("last_record:"), records[-1])
        else:
            position = jmespath.search(paging.next, data)
        if position in (None, ""):
            return Page(records, {"running": False, "modified": newest or None}, True)
        return Page(records, {**cursor, "position": position, "modified": newest or None}, False)

    def list_open_ids(self, entity: str) -> Iterator[str]:
        spec = self._entity(entity)
        cursor = self.begin(entity, {}, full=True)
        while True:
            page = self.read_page(entity, cursor)
            yield from (str(r.get(spec.id_field)) for r in page.records)
            if page.done:
                return
            cursor = page.cursor

    def read_records(self, entity: str, external_ids: list[str]) -> list[dict[str, Any]]:
        raise NotSupported(
            "this REST source cannot be asked for single records, so a policy's live_check "
            "cannot use it / 该数据源不支持按单据实时查询余额"
        )

    def test(self) -> ConnectionInfo:
        """Read a page of each entity (auth, paging, envelope) and check the mapped fields:
        against the system's own field list where the mapping names a describe call, else
        against the records that came back."""
        missing: dict[str, list[str]] = {}
        capabilities: dict[str, Any] = {
            "auth": self.source.auth.type,
            "write_back": "notes" if self.source.note else "not available (no endpoint)",
        }
        for entity in ("customers", "receivables"):
            page = self.read_page(entity, self.begin(entity, {}, full=True))
            capabilities[f"{entity}_first_page"] = len(page.records)
            describe = self.source.describe.get(entity)
            if describe is not None:
                known = self._described_fields(describe)
                capabilities[f"{entity}_fields_in_source"] = ", ".join(sorted(known)[:40])
                wanted = {
                    p.removeprefix(describe.prefix).split(".")[0]
                    for p in mapped_paths(self.mapping, entity)
                    if p.startswith(describe.prefix)
                }
                suffix = describe.companion_suffix
                if suffix:
                    wanted = {w.removesuffix(suffix) if w.endswith(suffix) else w for w in wanted}
                absent = sorted(wanted - known)
            elif page.records:
                absent = sorted(
                    f
                    for f in root_fields(self.mapping, entity)
                    if all(f not in r for r in page.records)
                )
            else:
                absent = []
            absent = [f for f in absent if f not in self._entity(entity).optional_fields]
            if absent:
                missing[entity] = absent
        user = str(self.credentials.get("username") or self.credentials.get("app_id") or "api")
        return ConnectionInfo("n/a (REST)", user, capabilities, missing)

    def _described_fields(self, describe: Any) -> set[str]:
        values = self._values()
        data = self.request(
            describe.method, fill(describe.path, values), body=fill(describe.body, values)
        )
        found = jmespath.search(describe.fields, data) or []
        return {str(name) for name in found}

    # ---- writing back ------------------------------------------------------------------------

    def _write(self, spec: RestWrite | None, what: str, **values: Any) -> str:
        if spec is None:
            raise SourceConfigError(f"the mapping defines no {what} endpoint")
        filled = self._values(**values)
        data = self.request(spec.method, fill(spec.path, filled), body=fill(spec.body, filled))
        found = jmespath.search(spec.id_path, data)
        return str(found) if found is not None else ""

    def post_note(self, entity: str, external_id: str, html: str) -> str:
        text = re.sub(r"<[^>]+>", "", html).strip()
        return self._write(self.source.note, "note", external_id=external_id, text=text)

    def find_note(self, entity: str, external_id: str, marker: str) -> str | None:
        return None  # no generic search: the write-back ledger keeps writes single

    def create_task(self, task: TaskRequest) -> str:
        return self._write(
            self.source.task,
            "task",
            external_id=task.external_id,
            summary=task.summary,
            text=re.sub(r"<[^>]+>", "", task.note_html).strip(),
            due_on=task.due_on.isoformat(),
            user=task.user_ref or "",
        )

    def find_task(self, task: TaskRequest, marker: str) -> str | None:
        return None

    def close_task(self, task_id: str) -> None:
        if self.source.close_task is not None:
            self._write(self.source.close_task, "close_task", task_id=task_id)

    def close(self) -> None:
        self.session.close()


def _put(target: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c` inside a nested body (Fxiaoke pages in data.search_query_info.offset)."""
    *parents, last = dotted.split(".")
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = value


def _merge(target: dict[str, Any], extra: dict[str, Any]) -> None:
    """Deep-merge `extra` into `target`; lists are extended (filters add to filters)."""
    for key, value in extra.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            _merge(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            current.extend(value)
        else:
            target[key] = value
