"""odoo-client-lib with transports we control.

odoolib's own connectors post with a fresh connection per call, with no timeout (XML-RPC) or
httpx's 5 s default (JSON-RPC), on port 8069 unless told otherwise and with no path prefix.
We keep its `Connection` (login, uid cache, `execute_kw` layout) and `Json2Connection` (bearer
headers), and plug in connectors that post through one pooled `requests.Session` to any base
URL (scheme, port and path prefix included) with the source's timeout and rate limit.
"""

from __future__ import annotations

import itertools
import xmlrpc.client
from typing import Any
from xml.parsers.expat import ExpatError

import requests
from odoolib.json2 import Json2Connection
from odoolib.rpc import Connection
from odoolib.rpc import Connector as OdoolibConnector
from odoolib.tools import JsonRPCException

from connectors.base import SourceUnavailable
from connectors.http import RateLimiter, json_body, send, snippet


class _PooledConnector(OdoolibConnector):  # type: ignore[misc]  # odoolib ships no types
    def __init__(
        self,
        base_url: str,
        session: requests.Session,
        timeout: float,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.timeout = timeout
        self.limiter = limiter

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        response = send(
            self.session,
            "POST",
            self.base_url + path,
            timeout=self.timeout,
            limiter=self.limiter,
            **kwargs,
        )
        if response.status_code != 200:
            raise SourceUnavailable(
                f"{path} answered HTTP {response.status_code}: {snippet(response.text)}"
            )
        return response


class PooledXmlRpcConnector(_PooledConnector):
    """`/xmlrpc/2/<service>`; faults surface as xmlrpc.client.Fault for the caller to classify."""

    PROTOCOL = "xmlrpc"

    def send(self, service_name: str, method: str, *args: Any) -> Any:
        body = xmlrpc.client.dumps(tuple(args), method, allow_none=False)
        response = self.post(
            f"/xmlrpc/2/{service_name}",
            data=body.encode("utf-8"),
            headers={"Content-Type": "text/xml; charset=utf-8"},
        )
        try:
            (result,), _ = xmlrpc.client.loads(response.content, use_builtin_types=True)
        except (ExpatError, ValueError) as exc:
            raise SourceUnavailable(f"malformed XML-RPC answer: {snippet(response.text)}") from exc
        return result


class PooledJsonRpcConnector(_PooledConnector):
    """`/jsonrpc`; errors (always HTTP 200) raise odoolib's JsonRPCException, as odoolib does."""

    PROTOCOL = "jsonrpc"
    _ids = itertools.count(1)

    def send(self, service_name: str, method: str, *args: Any) -> Any:
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service_name, "method": method, "args": list(args)},
            "id": next(self._ids),
        }
        body = json_body(self.post("/jsonrpc", json=payload))
        if not isinstance(body, dict):
            raise SourceUnavailable(f"malformed JSON-RPC answer: {snippet(str(body))}")
        if body.get("error"):
            raise JsonRPCException(body["error"])
        return body.get("result", False)


def rpc_connection(
    connector: _PooledConnector, database: str, login: str, secret: str
) -> Connection:
    return Connection(connector, database, login, secret)


class PooledJson2Connection(Json2Connection):  # type: ignore[misc]  # odoolib: no types
    """JSON-2 (`/json/2/<model>/<method>`, bearer API key) through the pooled session.

    Calls are made with named arguments only, so odoolib's per-model `/doc-bearer` introspection
    (an extra request per model) is never needed.
    """

    def __init__(self, connector: _PooledConnector, database: str, api_key: str) -> None:
        super().__init__(connector, database, api_key)
        if not database:
            self.bearer_header.pop("X-Odoo-Database", None)

    def call(self, model: str, method: str, payload: dict[str, Any]) -> requests.Response:
        connector: _PooledConnector = self.connector
        return send(
            connector.session,
            "POST",
            f"{connector.base_url}/json/2/{model}/{method}",
            timeout=connector.timeout,
            limiter=connector.limiter,
            json=payload,
            headers=self.bearer_header,
            check=False,
        )
