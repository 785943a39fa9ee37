"""A fake 用友 YonSuite open platform over real HTTP: the signed token requests of self-built
apps and of ISV suite apps (checked the way the platform does: every query parameter but
`signature`, sorted, under the app's or suite's secret; timestamp in ms), tokens that expire,
`code` envelopes, pageIndex paging with recordList/recordCount.

    python -m tests.fakes.yonsuite --port 8094 --customers 100 --receivables 500
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import random
import secrets
import time
from datetime import date, timedelta
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.sealing import seal
from tests.fakes.server import FaultyApp, Served, serve_forever

APP_KEY, APP_SECRET = "dunlintestappkey0001", "5f3c2a1b9e8d7c6b5a4f3e2d1c0b9a8f"
TOKEN_PATH = "/iuap-api-auth/open-auth/selfAppAuth/getAccessToken"
# An ISV suite (生态应用) and the one tenant that bought it.
SUITE_KEY, SUITE_SECRET = "dunlintestsuitekey01", "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
TENANT_ID = "dunlintenant0001"
SUITE_TOKEN_PATH = "/iuap-api-auth/open-auth/suiteApp/getAccessToken"


class FakeYonSuite:
    def __init__(self) -> None:
        self.merchants: list[dict[str, Any]] = []
        self.receivables: list[dict[str, Any]] = []
        self.tokens: set[str] = set()
        self.token_calls = 0
        self.token_kinds: list[str] = []  # "self_built" or "suite", per token issued
        self.clock = time.time
        self.app = FaultyApp(self.handle, lambda exc: _reply("400", f"参数错误: {exc}"))

    def seed(self, seed: int, customers: int, receivables: int) -> None:
        rng = random.Random(seed)
        for n in range(1, customers + 1):
            self.merchants.append(
                {"id": f"M{n:05d}", "name": f"用友客户{n:05d}", "contactTel": f"137{n:08d}"}
            )
        for n in range(1, receivables + 1):
            total = round(rng.uniform(100, 8000), 2)
            due = date(2026, 12, 1) - timedelta(days=rng.randint(-15, 60))
            self.receivables.append(
                {
                    "id": f"AR{n:06d}",
                    "code": f"YS{n:06d}",
                    "customer": rng.choice(self.merchants)["id"],
                    "oriSum": total,
                    "oriWriteOffSum": 0,
                    "vouchdate": (due - timedelta(days=30)).isoformat(),
                    "expireDate": due.isoformat(),
                    "currency_code": "CNY",
                }
            )

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def handle(self, request: Request) -> Response:
        if request.path == TOKEN_PATH:
            return self._token(request)
        if request.path == SUITE_TOKEN_PATH:
            return self._suite_token(request)
        token = request.args.get("access_token") or request.headers.get("access_token")
        if token not in self.tokens:
            return _reply("10004", "access_token 已失效")
        body = request.get_json(force=True) or {}
        rows = {
            "/yonbip/digitalModel/merchant/newlist": self.merchants,
            "/yonbip/fi/receivable/list": self.receivables,
        }.get(request.path)
        if rows is None:
            return _reply("404", "接口不存在")
        index, size = int(body.get("pageIndex", 1)), int(body.get("pageSize", 10))
        chunk = rows[(index - 1) * size : index * size]
        return _reply(
            "200", "成功", {"recordList": chunk, "recordCount": len(rows), "pageIndex": index}
        )

    def _token(self, request: Request) -> Response:
        self.token_calls += 1
        if request.args.get("appKey") != APP_KEY:
            return _reply("40001", "appKey 不存在")
        return self._signed_token(request, APP_SECRET, "self_built")

    def _suite_token(self, request: Request) -> Response:
        self.token_calls += 1
        if request.args.get("suiteKey") != SUITE_KEY:
            return _reply("40001", "suiteKey 不存在")
        if request.args.get("tenantId") != TENANT_ID:
            return _reply("40004", "租户未购买该应用")
        return self._signed_token(request, SUITE_SECRET, "suite")

    def _signed_token(self, request: Request, secret: str, kind: str) -> Response:
        stamp = request.args.get("timestamp", "")
        if not stamp.isdigit():
            return _reply("40002", "timestamp 不合法")
        if abs(self.clock() * 1000 - int(stamp)) > 5 * 60 * 1000:
            return _reply("40002", "timestamp 已过期")
        if request.args.get("signature") != _signature(request.args, secret):
            return _reply("40003", "签名不正确")
        token = secrets.token_hex(12)
        self.tokens.add(token)
        self.token_kinds.append(kind)
        return _reply("00000", "成功", {"access_token": token, "expire": 7200})


def _signature(args: Any, secret: str) -> str:
    """As the platform checks it, written apart from connectors.rest_auth: every parameter but
    `signature`, sorted by name, name+value concatenated, HMAC-SHA256 under the secret, base64."""
    message = "".join(f"{k}{args[k]}" for k in sorted(args) if k != "signature")
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def event_push(
    event: dict[str, Any],
    *,
    stamp_ms: int | None = None,
    secret: str = APP_SECRET,
    receiver: str = APP_KEY,
) -> dict[str, Any]:
    """The body YonSuite POSTs for a subscribed event (docs/reference/rest-vendors.md §1.4):
    the event JSON sealed for the app key, signed with the app secret (a suite app's events:
    the suite key and secret)."""
    key = base64.b64decode(secret.replace("-", "")[:43].ljust(43, "0") + "=")
    encrypt = seal(key, json.dumps(event).encode(), receiver.encode())
    nonce = secrets.token_hex(8)
    stamp = str(stamp_ms if stamp_ms is not None else int(time.time() * 1000))
    signed = "".join(sorted([nonce, encrypt, stamp])).encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    signature = base64.b64encode(digest).decode()
    return {"nonce": nonce, "timestamp": stamp, "encrypt": encrypt, "signature": signature}


def _reply(code: str, message: str, data: Any = None) -> Response:
    body = json.dumps({"code": code, "message": message, "data": data}, ensure_ascii=False)
    return Response(body, content_type="application/json")


def served(fake: FakeYonSuite) -> Served:
    return Served(fake.app)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a fake YonSuite open platform on loopback.")
    parser.add_argument("--port", type=int, default=8094)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--receivables", type=int, default=500)
    args = parser.parse_args()
    fake = FakeYonSuite()
    fake.seed(args.seed, args.customers, args.receivables)
    serve_forever(fake.app, args.port, f"fake YonSuite (appKey {APP_KEY}; token_url = this URL)")


if __name__ == "__main__":
    main()
