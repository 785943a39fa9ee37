"""One way to call Odoo whatever the protocol, and Odoo's errors sorted into ours.

`call(model, method, ids, **kwargs)` always passes keyword arguments: JSON-2 accepts nothing
else, and `execute_kw` forwards them unchanged over XML-RPC and JSON-RPC.
"""

from __future__ import annotations

import xmlrpc.client
from typing import Any

import requests
from odoolib.tools import AuthenticationError, JsonRPCException

from connectors.base import (
    RecordRejected,
    SourceAuthError,
    SourceConfigError,
    SourceError,
    SourceUnavailable,
)
from connectors.http import RateLimiter, json_body, make_session, send, snippet
from connectors.odoo.transport import (
    PooledJson2Connection,
    PooledJsonRpcConnector,
    PooledXmlRpcConnector,
    rpc_connection,
)


def classify(name: str, message: str) -> SourceError:
    """Map an Odoo exception (class name and message, from any protocol) onto our classes."""
    text = f"{name}: {message}".strip(": ")
    if "AccessDenied" in name or "Session Expired" in message:
        return SourceAuthError(f"Odoo refused the credentials: {snippet(text)}")
    if "AccessError" in name:
        return SourceAuthError(f"the Odoo user lacks a permission: {snippet(text)}")
    unknown_model = message.startswith("Object ") and "doesn't exist" in message
    if "Invalid field" in message or unknown_model or name.endswith("NotFound"):
        return SourceConfigError(f"Odoo: {snippet(text)}")
    if any(kind in name for kind in ("UserError", "ValidationError", "MissingError", "Warning")):
        return RecordRejected(f"Odoo: {snippet(text)}")
    return SourceUnavailable(f"Odoo server error: {snippet(text)}")


def _from_fault(fault: xmlrpc.client.Fault) -> SourceError:
    code = str(fault.faultCode)
    if code.startswith("warning -- "):
        head, _, message = code.removeprefix("warning -- ").partition("\n\n")
        return classify(head.strip(), message.strip())
    if code == "AccessDenied":
        return classify("AccessDenied", str(fault.faultString))
    return classify("", code)


class OdooClient:
    def __init__(
        self,
        url: str,
        database: str,
        login: str,
        secret: str,
        *,
        protocol: str = "jsonrpc",
        timeout: float = 60.0,
        rate_limit: float = 0.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.protocol = protocol
        self.session = make_session()
        self.timeout = timeout
        limiter = RateLimiter(rate_limit)
        if protocol == "xmlrpc":
            transport = PooledXmlRpcConnector(self.url, self.session, timeout, limiter)
        else:
            transport = PooledJsonRpcConnector(self.url, self.session, timeout, limiter)
        self._transport = transport
        if protocol == "json2":
            self._json2 = PooledJson2Connection(transport, database, secret)
        else:
            self._rpc = rpc_connection(transport, database, login, secret)

    def close(self) -> None:
        self.session.close()

    @property
    def uid(self) -> int | None:
        return None if self.protocol == "json2" else self._rpc.user_id

    def login(self) -> None:
        if self.protocol == "json2":
            self.call("res.users", "context_get")
            return
        try:
            self._rpc.check_login(force=False)
        except AuthenticationError as exc:
            raise SourceAuthError("Odoo refused the login or API key") from exc
        except xmlrpc.client.Fault as exc:
            raise _from_fault(exc) from exc
        except JsonRPCException as exc:
            raise self._from_json_error(exc.error) from exc

    def call(self, model: str, method: str, ids: list[int] | None = None, **kwargs: Any) -> Any:
        if self.protocol == "json2":
            return self._call_json2(model, method, ids, kwargs)
        self.login()
        args = [ids] if ids is not None else []
        conn = self._rpc
        try:
            return conn.get_service("object").execute_kw(
                conn.database, conn.user_id, conn.password, model, method, args, kwargs
            )
        except xmlrpc.client.Fault as exc:
            raise _from_fault(exc) from exc
        except JsonRPCException as exc:
            raise self._from_json_error(exc.error) from exc

    def _call_json2(
        self, model: str, method: str, ids: list[int] | None, kwargs: dict[str, Any]
    ) -> Any:
        payload = dict(kwargs)
        if ids is not None:
            payload["ids"] = ids
        response = self._json2.call(model, method, payload)
        if response.status_code == 200:
            return json_body(response)
        return self._raise_json2(response)

    @staticmethod
    def _raise_json2(response: requests.Response) -> Any:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {"name": "", "message": snippet(response.text)}
        if not isinstance(body, dict):
            body = {"name": "", "message": str(body)}
        name, message = str(body.get("name", "")), str(body.get("message", ""))
        if status == 401:
            raise SourceAuthError(f"Odoo refused the API key (HTTP 401): {snippet(message)}")
        if status in (404, 422) and not name.endswith(("MissingError", "UserError")):
            raise SourceConfigError(f"Odoo (HTTP {status}): {snippet(name + ': ' + message)}")
        if status == 429 or (status >= 500 and "Invalid field" not in message):
            raise SourceUnavailable(f"Odoo answered HTTP {status}: {snippet(message)}")
        raise classify(name, message)

    @staticmethod
    def _from_json_error(error: Any) -> SourceError:
        if not isinstance(error, dict):
            return SourceUnavailable(f"Odoo error: {snippet(str(error))}")
        data = error.get("data") or {}
        if error.get("code") == 100:
            return SourceAuthError("Odoo session expired / credentials refused")
        return classify(str(data.get("name", "")), str(data.get("message", error.get("message"))))

    def version_info(self) -> dict[str, Any]:
        """`/web/webclient/version_info` (a JSON route, no authentication needed)."""
        response = send(
            self.session,
            "POST",
            self.url + "/web/webclient/version_info",
            timeout=self.timeout,
            json={"jsonrpc": "2.0", "method": "call", "params": {}, "id": 0},
        )
        body = json_body(response)
        if not isinstance(body, dict) or not isinstance(body.get("result"), dict):
            raise SourceUnavailable(f"unexpected version_info answer: {snippet(str(body))}")
        result: dict[str, Any] = body["result"]
        return result
