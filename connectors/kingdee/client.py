"""The K3Cloud WebAPI over one pooled requests session (docs/reference/kingdee.md).

Two ways in: per-request signature headers (SDK 8.x; the server then sets a session cookie),
or a session login (LoginByAppSecret, LoginBySign, ValidateUser) carried by the
`kdservice-sessionid` cookie. A lost-session signal triggers one re-login and one retry; a
second signal is an auth error, never a loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from connectors.base import (
    RecordRejected,
    SourceAuthError,
    SourceConfigError,
    SourceError,
    SourceUnavailable,
)
from connectors.http import RateLimiter, make_session, send, snippet
from connectors.kingdee.signing import login_sign, signature_headers

FORM_SERVICE = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService."
AUTH_SERVICE = "Kingdee.BOS.WebApi.ServicesStub.AuthService."
SESSION_COOKIE = "kdservice-sessionid"
AUTH_MODES = ("signature", "app_secret", "sign", "password")
_LOST_SESSION_TEXT = ("ctx == null", "未登录", "-10001")


def response_statuses(value: Any) -> list[dict[str, Any]]:
    """Every ResponseStatus object at any nesting level (top level, under Result, in lists)."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        status = value.get("ResponseStatus")
        if isinstance(status, dict):
            found.append(status)
        for key, inner in value.items():
            if key != "ResponseStatus":
                found.extend(response_statuses(inner))
    elif isinstance(value, list):
        for inner in value[:3]:  # errors sit at the front; rows of data are never dicts
            found.extend(response_statuses(inner))
    return found


def msg_code(status: dict[str, Any]) -> int:
    try:
        return int(status.get("MsgCode") or 0)
    except (TypeError, ValueError):
        return 0


def describe(status: dict[str, Any]) -> str:
    errors = status.get("Errors") or []
    parts = [
        f"{e.get('FieldName') or ''}: {e.get('Message') or ''}".strip(": ")
        for e in errors
        if isinstance(e, dict)
    ]
    return "; ".join(parts) or f"MsgCode {msg_code(status)}"


class SessionLost(Exception):
    """Internal: the server says our session is gone (or never was)."""


class K3CloudClient:
    def __init__(
        self,
        base_url: str,
        *,
        acct_id: str,
        username: str,
        auth: str = "signature",
        app_id: str = "",
        app_secret: str = "",
        password: str = "",
        lcid: int = 2052,
        org_num: int = 0,
        timeout: float = 60.0,
        rate_limit: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if auth not in AUTH_MODES:
            raise SourceConfigError(
                f"unknown K3Cloud auth {auth!r} (one of {', '.join(AUTH_MODES)})"
            )
        self.base_url = base_url.rstrip("/") + "/"
        self.acct_id, self.username = acct_id, username
        self.auth = auth
        self.app_id, self.app_secret, self.password = app_id, app_secret, password
        self.lcid, self.org_num = lcid, org_num
        self.timeout = timeout
        self.clock = clock
        self.session = make_session()
        self.limiter = RateLimiter(rate_limit)
        self.logged_in = False
        self.login_context: dict[str, Any] = {}

    def close(self) -> None:
        self.session.close()

    def url(self, service: str) -> str:
        return f"{self.base_url}{service}.common.kdsvc"

    # ---- transport ---------------------------------------------------------------------------

    def _post(self, service: str, body: dict[str, Any]) -> Any:
        url = self.url(service)
        headers = {"Content-Type": "application/json", "Accept-Charset": "utf-8"}
        if self.auth == "signature":
            headers.update(
                signature_headers(
                    url,
                    app_id=self.app_id,
                    app_secret=self.app_secret,
                    acct_id=self.acct_id,
                    username=self.username,
                    lcid=self.lcid,
                    org_num=self.org_num,
                    timestamp=str(int(self.clock())),
                )
            )
        sid = self.session.cookies.get(SESSION_COOKIE)
        if sid:
            headers[SESSION_COOKIE] = sid
        response = send(
            self.session,
            "POST",
            url,
            timeout=self.timeout,
            limiter=self.limiter,
            check=False,
            data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers=headers,
        )
        if response.status_code == 401:
            raise SessionLost("HTTP 401")
        if response.status_code not in (200, 206):
            raise SourceUnavailable(
                f"K3Cloud answered HTTP {response.status_code}: {snippet(response.text)}"
            )
        text = response.text
        if text.startswith("response_error:"):
            raise SourceUnavailable(
                f"K3Cloud error: {snippet(text.removeprefix('response_error:'))}"
            )
        if any(signal in text for signal in _LOST_SESSION_TEXT):
            raise SessionLost(snippet(text))
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise SourceUnavailable(f"malformed JSON from K3Cloud: {snippet(text)}") from exc
        for status in response_statuses(data):
            if msg_code(status) == 1:
                raise SessionLost(describe(status))
        return data

    def call(self, service: str, body: dict[str, Any]) -> Any:
        """Post with the session (logging in first where needed); one re-login on a lost
        session, then an auth error."""
        if self.auth != "signature" and not self.logged_in:
            self.login()
        try:
            return self._post(service, body)
        except SessionLost:
            self.session.cookies.clear()
            self.logged_in = False
            if self.auth != "signature":
                self.login()
            try:
                return self._post(service, body)
            except SessionLost as again:
                raise SourceAuthError(
                    f"K3Cloud refused the session after a fresh login ({again}): check the "
                    "credentials and the user's permissions / 重新登录后仍被拒绝，请检查凭据和权限"
                ) from again

    def login(self) -> dict[str, Any]:
        stamp = str(int(self.clock()))
        if self.auth == "app_secret":
            service = "LoginByAppSecret"
            params = [self.acct_id, self.username, self.app_id, self.app_secret, self.lcid]
        elif self.auth == "sign":
            sign = login_sign(self.acct_id, self.username, self.app_id, self.app_secret, stamp)
            service = "LoginBySign"
            params = [self.acct_id, self.username, self.app_id, stamp, sign, self.lcid]
        elif self.auth == "password":
            service = "ValidateUser"
            params = [self.acct_id, self.username, self.password, self.lcid]
        else:
            return {}
        try:
            result = self._post(AUTH_SERVICE + service, {"parameters": params})
        except SessionLost as exc:
            raise SourceAuthError(f"K3Cloud refused the login: {exc}") from exc
        if not isinstance(result, dict) or int(result.get("LoginResultType", 0)) != 1:
            message = result.get("Message") if isinstance(result, dict) else snippet(str(result))
            raise SourceAuthError(f"K3Cloud refused the login: {message}")
        self.logged_in = True
        self.login_context = result.get("Context") or {}
        return result

    # ---- services ----------------------------------------------------------------------------

    def query(self, query: dict[str, Any]) -> list[list[Any]]:
        data = self.call(FORM_SERVICE + "ExecuteBillQuery", {"data": query})
        if (
            isinstance(data, dict)
            or (data and isinstance(data[0], dict))
            or (data and isinstance(data[0], list) and data[0] and isinstance(data[0][0], dict))
        ):
            raise self._error(data, query.get("FormId", "?"))
        if not isinstance(data, list):
            raise SourceUnavailable(f"unexpected ExecuteBillQuery answer: {snippet(str(data))}")
        return data

    def save(self, form_id: str, data: dict[str, Any]) -> dict[str, Any]:
        result = self.call(FORM_SERVICE + "Save", {"formid": form_id, "data": data})
        statuses = response_statuses(result)
        if not statuses or not statuses[0].get("IsSuccess"):
            raise self._error(result, form_id, writing=True)
        return result.get("Result", result) if isinstance(result, dict) else {}

    def batch_save(
        self, form_id: str, data: dict[str, Any]
    ) -> tuple[dict[int, str], dict[int, str]]:
        """BatchSave of `data["Model"]` (a list): (DIndex → new id, DIndex → refusal). A record
        in neither was not confirmed: K3Cloud can answer IsSuccess while saving fewer."""
        result = self.call(FORM_SERVICE + "BatchSave", {"formid": form_id, "data": data})
        statuses = response_statuses(result)
        if not statuses:
            raise SourceUnavailable(f"unexpected K3Cloud answer: {snippet(str(result))}")
        status = statuses[0]
        saved = {
            int(e.get("DIndex", 0)): str(e.get("Id"))
            for e in status.get("SuccessEntitys") or []
            if isinstance(e, dict) and e.get("Id")
        }
        refused: dict[int, str] = {}
        for error in status.get("Errors") or []:
            if isinstance(error, dict) and isinstance(error.get("DIndex"), int):
                text = f"{error.get('FieldName') or ''}: {error.get('Message') or ''}".strip(": ")
                refused.setdefault(error["DIndex"], f"K3Cloud {form_id}: {text}")
        if not status.get("IsSuccess") and not saved and not refused:
            raise self._error(result, form_id, writing=True)
        if msg_code(status) in (4, 8, 9):
            raise self._error(result, form_id, writing=True)
        return saved, refused

    @staticmethod
    def _error(data: Any, form_id: str, writing: bool = False) -> SourceError:
        statuses = response_statuses(data)
        if not statuses:
            return SourceUnavailable(f"unexpected K3Cloud answer: {snippet(str(data))}")
        status = statuses[0]
        code, text = msg_code(status), describe(status)
        if code in (4, 8, 9):
            kind = {4: "form not found", 8: "empty parameter", 9: "field not found"}[code]
            return SourceConfigError(f"K3Cloud {form_id}: {kind}: {text}")
        if writing:
            return RecordRejected(f"K3Cloud {form_id}: {text}")
        return SourceUnavailable(f"K3Cloud {form_id}: {text}")
