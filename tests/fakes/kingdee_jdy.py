"""A fake 金蝶云星辰 Kingdee JDY gateway over real HTTP: every call gateway-signed (checked),
app authorisation and app-token, `errcode` envelopes, and list pages silently cut to 100 while
`total_page` is computed from the size asked (as the real one does).

    python -m tests.fakes.kingdee_jdy --port 8093 --customers 200 --bills 1000
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import time
from datetime import date, timedelta
from typing import Any

from werkzeug.wrappers import Request, Response

from connectors.rest_auth import jdy_app_signature, jdy_gateway_headers
from tests.fakes.server import FaultyApp, Served, serve_forever

CLIENT_ID = "jdy-client-1"
CLIENT_SECRET = "f2adcfef73369bfc4e1384677d38a0ff"
INSTANCE = "2203456789"
APP_KEY, APP_SECRET = "bVZgAZOv1", "jdy-app-secret"
DOMAIN = "https://tf.jdy.com"


class FakeKingdeeJdy:
    def __init__(self) -> None:
        self.customers: list[dict[str, Any]] = []
        self.bills: list[dict[str, Any]] = []
        self.tokens: set[str] = set()
        self.token_calls = 0
        self.clock = time.time
        self.app = FaultyApp(self.handle, lambda exc: _reply(400, f"参数错误: {exc}", http=400))

    def seed(self, seed: int, customers: int, bills: int) -> None:
        rng = random.Random(seed)
        for n in range(1, customers + 1):
            self.customers.append(
                {
                    "id": str(9000 + n),
                    "number": f"CUST{n:04d}",
                    "name": f"星辰客户{n:04d}",
                    "saler_name": "李娜",
                    "enable": "1",
                }
            )
        for n in range(1, bills + 1):
            amount = round(rng.uniform(100, 5000), 2)
            day = date(2026, 12, 1) - timedelta(days=rng.randint(0, 90))
            self.bills.append(
                {
                    "id": str(70000 + n),
                    "bill_no": f"XSCK{n:06d}",
                    "bill_date": day.isoformat(),
                    "customer_id": rng.choice(self.customers)["id"],
                    "total_amount": str(amount),
                    "unsettle_amount": str(amount),
                    "bill_status": "C",
                    "modify_time": str(1_780_000_000_000 + n * 60_000),
                }
            )

    def revoke(self) -> None:
        self.tokens.clear()

    def _signed(self, request: Request) -> bool:
        headers = request.headers
        stamp, nonce = headers.get("X-Api-TimeStamp", ""), headers.get("X-Api-Nonce", "")
        if headers.get("X-Api-ClientID") != CLIENT_ID or not stamp.isdigit():
            return False
        if abs(self.clock() * 1000 - int(stamp)) > 5 * 60 * 1000:
            return False
        expected = jdy_gateway_headers(
            request.method,
            request.path,
            dict(request.args.items()),
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            nonce=nonce,
            timestamp_ms=stamp,
        )
        return headers.get("X-Api-Signature") == expected["X-Api-Signature"]

    def handle(self, request: Request) -> Response:
        if not self._signed(request):
            return _reply(1030002001, "签名验证失败", http=401)
        path = request.path
        if path == "/jdyconnector/app_management/push_app_authorize":
            if request.args.get("outerInstanceId") != INSTANCE:
                return _json({"code": 400, "msg": "outerInstanceId 无效", "data": []})
            app = {"appKey": APP_KEY, "appSecret": APP_SECRET, "domain": DOMAIN, "status": 1}
            return _json({"code": 200, "msg": "success", "data": [app]})
        if path == "/jdyconnector/app_management/kingdee_auth_token":
            self.token_calls += 1
            if request.args.get("app_key") != APP_KEY or request.args.get(
                "app_signature"
            ) != jdy_app_signature(APP_KEY, APP_SECRET):
                return _reply(1030002005, "app_signature 错误")
            token = secrets.token_hex(8)
            self.tokens.add(token)
            return _reply(0, "success", {"app-token": token})
        if request.headers.get("app-token") not in self.tokens:
            return _reply(1030002006, "授权密钥已过期，请重新获取")
        if request.headers.get("X-GW-Router-Addr") != DOMAIN:
            return _reply(1030002007, "X-GW-Router-Addr 缺失")
        if path == "/jdy/v2/bd/customer":
            return self._page(self.customers, request)
        if path == "/jdy/v2/scm/sal_out_bound":
            rows = [
                b for b in self.bills if b["bill_status"] == request.args.get("bill_status", "C")
            ]
            since = request.args.get("modify_start_time")
            if since:
                rows = [b for b in rows if int(b["modify_time"]) >= int(since)]
            return self._page(rows, request)
        return _reply(404, "接口不存在", http=404)

    def _page(self, rows: list[dict[str, Any]], request: Request) -> Response:
        asked = int(request.args.get("page_size", 10))
        page = int(request.args.get("page", 1))
        size = min(asked, 100)  # silently truncated…
        total_page = max(1, -(-len(rows) // asked))  # …while pages are counted by the size asked
        chunk = rows[(page - 1) * size : page * size]
        return _reply(
            0,
            "success",
            {
                "count": str(len(rows)),
                "total_page": total_page,
                "page": page,
                "page_size": asked,
                "rows": chunk,
            },
        )


def _reply(errcode: int, description: str, data: Any = None, http: int = 200) -> Response:
    return _json({"errcode": errcode, "description": description, "data": data}, http)


def _json(value: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(value, ensure_ascii=False), status=status, content_type="application/json"
    )


def served(fake: FakeKingdeeJdy) -> Served:
    return Served(fake.app)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a fake Kingdee JDY gateway on loopback.")
    parser.add_argument("--port", type=int, default=8093)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--bills", type=int, default=1000)
    args = parser.parse_args()
    fake = FakeKingdeeJdy()
    fake.seed(args.seed, args.customers, args.bills)
    serve_forever(
        fake.app, args.port, f"fake Kingdee JDY (client {CLIENT_ID}, instance {INSTANCE})"
    )


if __name__ == "__main__":
    main()
